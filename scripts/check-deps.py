#!/usr/bin/env python3
"""Checks that every #include between gpulse's parts is one ARCHITECTURE.md allows.

ARCHITECTURE.md's table of parts has one row per folder:

    | `master/core/` | what it holds | `master/store/`, `sample/`, `common/` |

A source file belongs to the part whose folder is the longest prefix of its
path. It may include files of its own part and of the parts its row names
(a row may also name a single file, e.g. `telemetry/nvml_abi.h`). Tests and
benchmarks (`*_test.cc`, `*_test_util.h`, `*_bench.cc`) may also include
`testkit/`. Exits 1 and lists every include that the table does not allow,
or a file that belongs to no part.

Usage: scripts/check-deps.py [repo root]
"""
import pathlib
import re
import subprocess
import sys

ROW = re.compile(r"^\|\s*`([^`]+/)`\s*\|[^|]*\|(.*)\|\s*$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
TEST_FILE = re.compile(r"(_test\.cc|_test_util\.h|_bench\.cc)$")


def read_table(root):
    parts = {}
    for line in (root / "ARCHITECTURE.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            parts[m.group(1)] = re.findall(r"`([^`]+)`", m.group(2))
    if not parts:
        sys.exit("check-deps: ARCHITECTURE.md has no table of parts")
    return parts


def part_of(path, parts):
    owners = [p for p in parts if path.startswith(p)]
    return max(owners, key=len) if owners else None


def allowed(target, own, allowances):
    return any(target.startswith(a) if a.endswith("/") else target == a for a in [own] + allowances)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    parts = read_table(root)
    files = subprocess.run(["git", "-C", str(root), "ls-files", "*.cc", "*.h"],
                           capture_output=True, text=True, check=True).stdout.split()
    problems = []
    for path in files:
        own = part_of(path, parts)
        if own is None:
            problems.append(f"{path}: belongs to no part in ARCHITECTURE.md's table")
            continue
        allowances = list(parts[own])
        if TEST_FILE.search(path):
            allowances.append("testkit/")
        text = (root / path).read_text(errors="replace")
        for target in INCLUDE.findall(text):
            if "/" not in target:
                continue  # a file beside this one, or a generated header
            if not (root / target).exists() and not target.startswith("proto/"):
                continue  # generated into the build tree (proto/*.pb.h is checked)
            if part_of(target, parts) is None or not allowed(target, own, allowances):
                problems.append(f"{path}: includes {target}, but {own} may use only "
                                f"{', '.join(parts[own]) or 'nothing else'}")
    for p in problems:
        print(p)
    if problems:
        print(f"check-deps: {len(problems)} include(s) that ARCHITECTURE.md does not allow")
        return 1
    print(f"check-deps: {len(files)} files, every include allowed by ARCHITECTURE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
