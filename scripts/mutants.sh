#!/usr/bin/env bash
# make mutants: plants each curated bug of scripts/mutants.txt, one at a
# time, in a scratch copy of the tree, rebuilds only the targets it names,
# runs the tests it names, and reports whether they caught it ("killed") or
# not ("survived"). Exits 1 when a mutant survived, a pattern no longer
# matches exactly once, or the unmutated tests fail; 0 when every mutant
# was killed. Never writes to the working tree.
#
#   scripts/mutants.sh                 # every mutant
#   scripts/mutants.sh token-last-byte # only the ones named
#
# Environment:
#   MUTANTS_DIR  scratch folder (default build-mutants/, ignored by git). Its
#                copy of the tree is kept between runs and refreshed file by
#                file, so a second run rebuilds only what changed; inside
#                the repo, ccache's base_dir lets the first build reuse the
#                cache of build/.
#   JOBS         parallel build and test jobs (default: nproc)
#   REPORT       also write the result table (Markdown) to this file
#
# The list's format is described at the top of scripts/mutants.txt.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
list="$root/scripts/mutants.txt"
scratch="${MUTANTS_DIR:-$root/build-mutants}"
src="$scratch/src"
build="$src/build"
jobs="${JOBS:-$(nproc)}"
report="${REPORT:-}"

# ---- the list ---------------------------------------------------------------
ids=() files=() finds=() replaces=() tests=() targets=()
parse_list() {
  local line key value current=-1
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ "$line" =~ ^\[([A-Za-z0-9._-]+)\]$ ]]; then
      current=${#ids[@]}
      ids+=("${BASH_REMATCH[1]}") files+=("") finds+=("") replaces+=("") tests+=("") targets+=("")
      continue
    fi
    if [[ $current -lt 0 || ! "$line" =~ ^(file|find|replace|tests|build):(.*)$ ]]; then
      echo "mutants.txt: cannot read: $line" >&2
      exit 2
    fi
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    value="${value#"${value%%[![:space:]]*}"}"  # leading blanks (alignment) are not part of it
    case "$key" in
      file) files[current]="$value" ;;
      find) finds[current]="$value" ;;
      replace) replaces[current]="$value" ;;
      tests) tests[current]="$value" ;;
      build) targets[current]="$value" ;;
    esac
  done <"$list"
  local i
  for i in "${!ids[@]}"; do
    if [[ -z "${files[i]}" || -z "${finds[i]}" || -z "${tests[i]}" || -z "${targets[i]}" ]]; then
      echo "mutants.txt: [${ids[i]}] needs file, find, tests and build" >&2
      exit 2
    fi
  done
}

# ---- the scratch copy ---------------------------------------------------------
# Copies the tracked and untracked-but-not-ignored files, touching only the
# ones that differ, so that the scratch build stays incremental. A copied
# file gets the current time, not the original's: an older time could be
# older than an object built from the previous content.
sync_tree() {
  mkdir -p "$src"
  local f
  while IFS= read -r -d '' f; do
    [[ -f "$root/$f" ]] || continue
    if ! cmp -s "$root/$f" "$src/$f"; then
      mkdir -p "$src/$(dirname "$f")"
      cp --preserve=mode "$root/$f" "$src/$f"
    fi
  done < <(cd "$root" && git ls-files -z -co --exclude-standard)
}

configure() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >"$scratch/configure.log" 2>&1 || {
    cat "$scratch/configure.log" >&2
    exit 1
  }
}

# Builds the named targets; the log goes to $scratch/<name>.build.log.
build_targets() {
  local name="$1"
  shift
  # shellcheck disable=SC2068
  cmake --build "$build" -j"$jobs" --target $@ >"$scratch/$name.build.log" 2>&1
}

# Runs the tests matching regex $2; the log goes to $scratch/<name>.test.log.
# 0 when they all pass; 1 when one fails; 2 when none matched.
run_tests() {
  local name="$1" regex="$2" log="$scratch/$1.test.log"
  if ctest --test-dir "$build" -j"$jobs" --timeout 180 -R "$regex" --no-tests=error >"$log" 2>&1; then
    return 0
  fi
  grep -q "No tests were found" "$log" && return 2
  return 1
}

# How often the literal $2 occurs in file $1.
count_occurrences() {
  python3 - "$1" "$2" <<'PY'
import sys
print(open(sys.argv[1], encoding="utf-8").read().count(sys.argv[2].replace("\\n", "\n")))
PY
}

apply_mutant() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, find, replace = (a.replace("\\n", "\n") for a in sys.argv[1:])
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text.replace(find, replace, 1))
PY
}

# ---- main ---------------------------------------------------------------------
parse_list
selected=()
if [[ $# -gt 0 ]]; then
  for want in "$@"; do
    found=0
    for i in "${!ids[@]}"; do [[ "${ids[i]}" == "$want" ]] && selected+=("$i") && found=1; done
    [[ $found -eq 1 ]] || { echo "no mutant named '$want' in scripts/mutants.txt" >&2; exit 2; }
  done
else
  selected=("${!ids[@]}")
fi

mkdir -p "$scratch"
echo "== scratch copy in $src"
sync_tree
configure

# The unmutated tree must build and pass every test the list names:
# otherwise a "killed" would mean nothing.
all_targets="" selected_tests=()
for i in "${selected[@]}"; do
  all_targets+=" ${targets[i]}"
  selected_tests+=("${tests[i]}")
done
all_targets="$(tr ' ' '\n' <<<"$all_targets" | sort -u | tr '\n' ' ')"
echo "== baseline: building $all_targets"
if ! build_targets baseline $all_targets; then
  echo "the unmutated tree does not build; see $scratch/baseline.build.log" >&2
  exit 1
fi
echo "== baseline: running the named tests unmutated"
# CTest's regular expressions hold at most 9 groups: the union of all the
# list's patterns is run in batches that stay under that.
batch=0
while IFS= read -r regex; do
  batch=$((batch + 1))
  if ! run_tests "baseline.$batch" "$regex"; then
    echo "the named tests fail (or match nothing) without any mutant; see $scratch/baseline.$batch.test.log" >&2
    exit 1
  fi
done < <(python3 - "${selected_tests[@]}" <<'PY'
import sys
batches, current, groups = [], [], 0
for regex in dict.fromkeys(sys.argv[1:]):  # unique, in list order
    n = regex.count("(")
    if current and groups + n > 9:
        batches.append(current)
        current, groups = [], 0
    current.append(regex)
    groups += n
if current:
    batches.append(current)
for b in batches:
    print("|".join(b))
PY
)

rows=()
survived=0 broken=0
dirty=""  # targets last built with a mutant in them
for i in "${selected[@]}"; do
  id="${ids[i]}" file="${files[i]}"
  target="$src/$file"
  start=$SECONDS
  if [[ ! -f "$target" ]]; then
    result="ERROR: no file $file"
    broken=$((broken + 1))
  else
    n="$(count_occurrences "$target" "${finds[i]}")"
    if [[ "$n" != 1 ]]; then
      result="ERROR: pattern found $n times"
      broken=$((broken + 1))
    else
      # Targets the previous mutant left built with its bug, and that this
      # one does not rebuild, go back to the unmutated sources first (ccache
      # hits), so that no test runs a binary holding another mutant.
      stale="$(comm -23 <(tr ' ' '\n' <<<"$dirty" | sed '/^$/d' | sort -u) \
                        <(tr ' ' '\n' <<<"${targets[i]}" | sed '/^$/d' | sort -u) | tr '\n' ' ')"
      if [[ -n "${stale// /}" ]] && ! build_targets "$id.restore" $stale; then
        echo "the unmutated tree does not build; see $scratch/$id.restore.build.log" >&2
        exit 1
      fi
      cp -p "$target" "$scratch/original"
      apply_mutant "$target" "${finds[i]}" "${replaces[i]}"
      if ! build_targets "$id" ${targets[i]}; then
        result="ERROR: does not build"
        broken=$((broken + 1))
      else
        set +e
        run_tests "$id" "${tests[i]}"
        rc=$?
        set -e
        case $rc in
          0) result="SURVIVED"; survived=$((survived + 1)) ;;
          1) result="killed" ;;
          *) result="ERROR: no test matches"; broken=$((broken + 1)) ;;
        esac
      fi
      cp "$scratch/original" "$target"
      dirty="${targets[i]}"
    fi
  fi
  seconds=$((SECONDS - start))
  printf '%-28s %-9s %4ss  %s\n' "$id" "$result" "$seconds" "$file"
  if [[ "$result" == killed ]]; then
    caught="$(grep -oE '[0-9]+ - [A-Za-z0-9_./-]+ \((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception)' \
      "$scratch/$id.test.log" | sed -E 's/^[0-9]+ - //; s/ \(.*//' | head -3 | paste -sd, -)"
  else
    caught="-"
  fi
  rows+=("| \`$id\` | \`$file\` | $result | ${caught:--} |")
done

# Leave the scratch build as the unmutated tree.
if [[ -n "$dirty" ]] && ! build_targets restore $dirty; then
  echo "the scratch tree does not build after the last mutant; see $scratch/restore.build.log" >&2
  exit 1
fi

table="| mutant | file | result | first tests that failed |
|---|---|---|---|"
for r in "${rows[@]}"; do table+=$'\n'"$r"; done
echo
echo "$table"
echo
echo "$(( ${#selected[@]} - survived - broken )) killed, $survived survived, $broken broken, of ${#selected[@]}"
[[ -n "$report" ]] && printf '%s\n' "$table" >"$report"
[[ $survived -eq 0 && $broken -eq 0 ]]
