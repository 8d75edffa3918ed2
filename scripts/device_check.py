#!/usr/bin/env python3
"""The judging half of scripts/device-check.sh: comparisons and verdicts.

  device_check.py fields
      the --query-gpu fields to ask nvidia-smi for (from SMI_ROWS)
  device_check.py compare SAMPLE.json NVIDIA_SMI.csv
      gpulse vs nvidia-smi, GPU by GPU; exit 0 agree, 1 disagree
  device_check.py pynvml SAMPLE.json
      gpulse vs nvidia-ml-py (skipped when not installed); exit 0 / 1
  device_check.py timing BENCH.json NVSMI_NS MAX_SAMPLE_US MIN_VS_INIT MIN_VS_NVSMI
      the timing figures and targets; exit 0 met, 1 missed
  device_check.py utilization FILE --at-least|--at-most PERCENT
      every GPU's utilization in the JSON lines of FILE against a bound; exit 0 / 1
  device_check.py gpm FILE --at-least|--at-most RATIO
      every GPU's GPM graphics-engine activity (DCGM_FI_PROF_GR_ENGINE_ACTIVE)
      in the JSON lines of FILE against a bound, and the GPM figures shown;
      --at-least also wants figures from every GPU that nvidia-ml-py says
      supports GPM; exit 0 / 1

Exit 2 from any of them: the input could not be read (it says why).
Python 3.6 or newer, standard library only (pynvml if installed).
"""
import csv
import json
import sys

MIB = 1024 * 1024


def relative(floor, fraction):
    """A tolerance of max(floor, fraction x nvidia-smi's value)."""
    return lambda theirs: max(floor, fraction * theirs)


# gpulse vs `nvidia-smi --query-gpu=...`, one row per value:
#   nvidia-smi field (see `nvidia-smi --help-query-gpu`), gpulse's JSON key
#   (`gpulse sample --json`, docs/telemetry.md), the factor from gpulse's unit
#   to nvidia-smi's (None: text, compared exactly), the tolerance (a number,
#   or a function of nvidia-smi's value).
# Absent is absent: gpulse's null agrees with nvidia-smi's [N/A] or
# [Not Supported], and with nothing else; a number never agrees with them.
# A new value is one line here, plus the same field in
# tests/device_check/fake_gpu.py so that the dry run can answer it.
SMI_ROWS = [
    ("uuid", "uuid", None, None),
    ("name", "name", None, None),
    ("memory.total", "memory_total_bytes", 1.0 / MIB, 1),
    # Drivers differ on whether "used" includes memory the driver reserves.
    ("memory.used", "memory_used_bytes", 1.0 / MIB, 1024),
    ("utilization.gpu", "utilization_gpu", 1, 25),
    ("utilization.memory", "utilization_memory", 1, 25),
    ("temperature.gpu", "temperature_c", 1, 3),
    ("power.draw", "power_w", 1, relative(20.0, 0.15)),
    # gpulse reads nvmlDeviceGetEnforcedPowerLimit; nvidia-smi's power.limit
    # is the software limit, which may be higher than the one enforced.
    ("enforced.power.limit", "power_limit_w", 1, 1),
    ("clocks.sm", "clock_sm_mhz", 1, relative(100.0, 0.2)),
    ("clocks.mem", "clock_mem_mhz", 1, 50),
    ("fan.speed", "fan_percent", 1, 10),
]

# What nvidia-smi prints for a value the GPU or driver does not have.
ABSENT = ("[N/A]", "[Not Supported]", "N/A")


def text_of(value):
    return value.decode() if isinstance(value, bytes) else value


# gpulse vs nvidia-ml-py (NVIDIA's Python bindings), when installed: gpulse's
# JSON key, how to read the value with pynvml (module, handle), the
# tolerance (None: exact). NVML_ERROR_NOT_SUPPORTED reads as absent.
PYNVML_ROWS = [
    ("uuid", lambda n, h: text_of(n.nvmlDeviceGetUUID(h)), None),
    ("name", lambda n, h: text_of(n.nvmlDeviceGetName(h)), None),
    ("memory_total_bytes", lambda n, h: n.nvmlDeviceGetMemoryInfo(h).total, None),
    ("temperature_c", lambda n, h: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU), 3),
    ("power_limit_w", lambda n, h: n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0, 1),
    ("clock_mem_mhz", lambda n, h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM), 50),
    ("fan_percent", lambda n, h: n.nvmlDeviceGetFanSpeed(h), 10),
    # Health figures (read by gpulse's slow poller): exact. Energy and clock
    # event reasons move between the two reads, so they are not compared.
    ("ecc_dbe_volatile", lambda n, h: n.nvmlDeviceGetTotalEccErrors(
        h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC), None),
    ("row_remap_pending", lambda n, h: bool(n.nvmlDeviceGetRemappedRows(h)[2]), None),
    ("row_remap_failure", lambda n, h: bool(n.nvmlDeviceGetRemappedRows(h)[3]), None),
]


class Unreadable(Exception):
    """An input file is missing or not what it should be (exit 2)."""


def last_sample(path):
    try:
        lines = [line for line in open(path) if line.strip()]
        return json.loads(lines[-1])
    except (OSError, IndexError, ValueError) as e:
        raise Unreadable("no gpulse sample in %s: %s" % (path, e))


def gpus_by_index(sample):
    nvml = sample.get("nvml", {})
    if not nvml.get("available"):
        return None, "gpulse says NVML is unavailable: %s" % nvml.get("error")
    return {g["index"]: g for g in sample["gpus"]}, None


def differs(ours, theirs, tolerance, who):
    """None if gpulse's value and `who`'s agree, else how they differ."""
    def show(value):
        return "absent" if value is None else repr(value) if isinstance(value, str) else "%g" % value
    if ours is None and theirs is None:
        return None
    if ours is not None and theirs is not None:
        if tolerance is None:
            if ours == theirs:
                return None
        else:
            limit = tolerance(theirs) if callable(tolerance) else tolerance
            if abs(ours - theirs) <= limit:
                return None
            return "gpulse %.1f, %s %.1f (tolerance %.1f)" % (ours, who, theirs, limit)
    return "gpulse %s, %s %s" % (show(ours), who, show(theirs))


def fields():
    print(",".join(["index"] + [row[0] for row in SMI_ROWS]))
    return 0


def compare(sample_path, csv_path):
    gpus, error = gpus_by_index(last_sample(sample_path))
    if gpus is None:
        print(error)
        return 1
    try:
        rows = [r for r in csv.reader(open(csv_path), skipinitialspace=True) if r]
    except OSError as e:
        raise Unreadable("cannot read nvidia-smi's output: %s" % e)
    problems, notes = [], []
    if len(gpus) != len(rows):
        problems.append("gpulse sees %d GPUs, nvidia-smi %d" % (len(gpus), len(rows)))
    for row in rows:
        if len(row) != len(SMI_ROWS) + 1:
            raise Unreadable("nvidia-smi printed %d columns, not %d: %s" % (len(row), len(SMI_ROWS) + 1, row))
        tag = "GPU %s" % row[0].strip()
        g = gpus.get(int(row[0]))
        if g is None:
            problems.append("%s: missing from gpulse" % tag)
            continue
        if g.get("error"):
            problems.append("%s: gpulse reports an error: %s" % (tag, g["error"]))
            continue
        for (field, key, scale, tolerance), cell in zip(SMI_ROWS, row[1:]):
            cell = cell.strip()
            ours = g.get(key)
            if cell in ABSENT:
                theirs = None
            elif cell.startswith("["):
                notes.append("%s %s: nvidia-smi says %s; not compared" % (tag, field, cell))
                continue
            elif scale is None:
                theirs = cell
            else:
                try:
                    theirs = float(cell)
                except ValueError:
                    raise Unreadable("%s %s: nvidia-smi printed %r, not a number" % (tag, field, cell))
                if ours is not None:
                    ours = ours * scale
            problem = differs(ours, theirs, tolerance, "nvidia-smi")
            if problem:
                problems.append("%s %s: %s" % (tag, field, problem))
    for line in problems + notes:
        print(line)
    return 1 if problems else 0


def compare_pynvml(sample_path):
    try:
        import pynvml
    except ImportError:
        print("SKIP: nvidia-ml-py (pynvml) is not installed")
        return 0
    gpus, error = gpus_by_index(last_sample(sample_path))
    if gpus is None:
        print(error)
        return 1
    problems = []
    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        if count != len(gpus):
            problems.append("gpulse sees %d GPUs, pynvml %d" % (len(gpus), count))
        for index in sorted(gpus):
            g = gpus[index]
            if g.get("error"):
                problems.append("GPU %d: gpulse reports an error: %s" % (index, g["error"]))
                continue
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for key, read, tolerance in PYNVML_ROWS:
                try:
                    theirs = read(pynvml, handle)
                except AttributeError:
                    continue  # an older nvidia-ml-py without this call: nothing to compare with
                except pynvml.NVMLError as e:
                    if getattr(e, "value", None) != pynvml.NVML_ERROR_NOT_SUPPORTED:
                        problems.append("GPU %d %s: pynvml failed: %s" % (index, key, e))
                        continue
                    theirs = None
                problem = differs(g.get(key), theirs, tolerance, "pynvml")
                if problem:
                    problems.append("GPU %d %s: %s" % (index, key, problem))
    finally:
        pynvml.nvmlShutdown()
    for p in problems:
        print(p)
    print("nvidia-ml-py agrees" if not problems else "nvidia-ml-py disagrees")
    return 1 if problems else 0


def timing(bench_path, nvsmi_ns, max_sample_us, min_vs_init, min_vs_nvsmi):
    try:
        runs = {b["name"]: b for b in json.load(open(bench_path))["benchmarks"]}
    except (OSError, ValueError, KeyError) as e:
        raise Unreadable("no benchmark results in %s: %s" % (bench_path, e))
    nvsmi_ns = float(nvsmi_ns) if nvsmi_ns else None

    def ns(name):
        b = runs.get(name)
        if b is None or b.get("error_occurred"):
            return None
        return b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]

    persistent, init = ns("BM_PersistentSession"), ns("BM_InitShutdownPerSample")
    direct, take = ns("BM_DirectNvmlCalls"), ns("BM_SamplerTake")
    gpm = ns("BM_GpmRead")
    gpus = int(runs.get("BM_PersistentSession", {}).get("gpus", 0)) or 1
    print("GPUs: %d" % gpus)
    for label, value in (("nvidia-smi per query", nvsmi_ns),
                         ("NVML init+query+shutdown/sample", init),
                         ("persistent session/sample", persistent),
                         ("direct NVML calls/sample", direct),
                         ("full Sampler::Take()", take),
                         ("GPM read, all GPUs (slow poller)", gpm)):
        print("%-33s %12s" % (label + ":", "n/a" if value is None else "%.1f us" % (value / 1e3)))
    if None in (persistent, init, take):
        print("MISSING: a benchmark did not run (BM_PersistentSession, BM_InitShutdownPerSample, BM_SamplerTake)")
        return 2
    if direct is not None:
        print("gpulse overhead per GPU:          %12.2f us" % ((persistent - direct) / gpus / 1e3))
    problems = []
    if take > float(max_sample_us) * 1e3 * gpus:
        problems.append("full sample took %.1f us for %d GPU(s) (target <= %s us per GPU)"
                        % (take / 1e3, gpus, max_sample_us))
    if init / persistent < float(min_vs_init):
        problems.append("persistent session only %.1fx faster than init per sample (target %sx)"
                        % (init / persistent, min_vs_init))
    if nvsmi_ns is not None:
        if nvsmi_ns / take < float(min_vs_nvsmi):
            problems.append("full sample only %.0fx faster than nvidia-smi (target %sx)"
                            % (nvsmi_ns / take, min_vs_nvsmi))
        print("speed-ups: %.0fx vs init per sample, %.0fx vs nvidia-smi" % (init / persistent, nvsmi_ns / take))
    for p in problems:
        print("TARGET MISSED: " + p)
    return 1 if problems else 0


def utilization(path, bound, percent):
    try:
        values = [g["utilization_gpu"] for line in open(path) if line.strip()
                  for g in json.loads(line)["gpus"] if g.get("utilization_gpu") is not None]
    except (OSError, ValueError, KeyError) as e:
        raise Unreadable("no gpulse samples in %s: %s" % (path, e))
    if not values:
        print("no GPU utilization read")
        return 1
    percent = float(percent)
    if bound == "--at-least":
        print("lowest GPU utilization read: %g%% (expected >= %g%%)" % (min(values), percent))
        return 0 if min(values) >= percent else 1
    print("highest GPU utilization read: %g%% (expected <= %g%%)" % (max(values), percent))
    return 0 if max(values) <= percent else 1


GPM_KEYS = ("gr_engine_active", "sm_active", "sm_occupancy", "pipe_tensor_active")


def gpm_supported_by_pynvml(index):
    """True/False as nvidia-ml-py's nvmlGpmQueryDeviceSupport says; None when it cannot say."""
    try:
        import pynvml
        pynvml.nvmlInit()
    except Exception:  # not installed, or no driver: cannot say
        return None
    try:
        return bool(pynvml.nvmlGpmQueryDeviceSupport(pynvml.nvmlDeviceGetHandleByIndex(index)).isSupportedDevice)
    except Exception:  # an nvidia-ml-py without GPM, or the query failed
        return None
    finally:
        pynvml.nvmlShutdown()


def gpm(path, bound, ratio):
    """GPM figures of every GPU against a bound on graphics-engine activity."""
    try:
        figures = {}
        for line in open(path):
            if line.strip():
                for g in json.loads(line)["gpus"]:
                    entry = figures.setdefault(g["index"], {key: [] for key in GPM_KEYS})
                    for key in GPM_KEYS:
                        if g.get(key) is not None:
                            entry[key].append(g[key])
    except (OSError, ValueError, KeyError) as e:
        raise Unreadable("no gpulse samples in %s: %s" % (path, e))
    ratio = float(ratio)
    problems = []
    for index in sorted(figures):
        entry = figures[index]
        active = entry["gr_engine_active"]
        if not active:
            supported = gpm_supported_by_pynvml(index) if bound == "--at-least" else None
            if supported:
                problems.append("GPU %d: nvidia-ml-py says it supports GPM, gpulse reported no GPM figures" % index)
            else:
                print("GPU %d: no GPM figures (%s)" % (index, "GPM unsupported" if supported is False else
                                                       "GPU or driver without GPM, or too few samples"))
            continue
        print("GPU %d GPM: %s" % (index, ", ".join(
            "%s %s" % (key, "/".join("%.2f" % v for v in entry[key]) or "absent") for key in GPM_KEYS)))
        if bound == "--at-least" and min(active) < ratio:
            problems.append("GPU %d: graphics-engine activity %.2f (expected >= %g)" % (index, min(active), ratio))
        if bound == "--at-most" and max(active) > ratio:
            problems.append("GPU %d: graphics-engine activity %.2f (expected <= %g)" % (index, max(active), ratio))
    for p in problems:
        print(p)
    return 1 if problems else 0


COMMANDS = {
    "fields": (fields, 0),
    "compare": (compare, 2),
    "pynvml": (compare_pynvml, 1),
    "timing": (timing, 5),
    "utilization": (utilization, 3),
    "gpm": (gpm, 3),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS or len(argv) - 2 != COMMANDS[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[1]][0](*argv[2:])
    except Unreadable as e:
        print("UNREADABLE: %s" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
