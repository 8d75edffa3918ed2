"""The GPUs of an NVML simulator scenario, as nvidia-smi and nvidia-ml-py
would show them: shared by the dry run's fake nvidia-smi (fake-bin/) and fake
pynvml (fake-python/).

They read the file named by GPULSE_NVML_SIM_SCENARIO, the one the simulator
that gpulse loads reads, independently of gpulse. Only what the dry run
needs is modelled; anything else (waves, lost GPUs, GPUs without an explicit
uuid) is refused loudly rather than guessed. The scenario format is in
tools/nvml-sim/README.md.
"""
import json
import os
import sys

# tools/nvml-sim/gpu_models.cc: memory MiB, power limit W, SM and memory
# clocks MHz; plus the compute capability.
MODELS = {
    "NVIDIA H100 80GB HBM3": (81559, 700, 1980, 2619, "9.0"),
    "NVIDIA H200": (143771, 700, 1980, 3201, "9.0"),
    "NVIDIA A100-SXM4-80GB": (81920, 400, 1410, 1593, "8.0"),
    "NVIDIA A100-SXM4-40GB": (40960, 400, 1410, 1215, "8.0"),
    "NVIDIA L4": (23034, 72, 2040, 6251, "8.9"),
    "Tesla T4": (15360, 70, 1590, 5001, "7.5"),
}
DEFAULT_MODEL = "NVIDIA H100 80GB HBM3"

# The simulator's defaults for the values it does not take from the model.
DEFAULTS = {
    "utilization_gpu": 10, "utilization_memory": 5, "memory_used_mib": 1024,
    "memory_reserved_mib": 0, "temperature_c": 40, "power_w": 90, "fan_percent": 30,
}


class ScenarioError(Exception):
    pass


def scenario_path():
    path = os.environ.get("GPULSE_NVML_SIM_SCENARIO", "")
    if not path:
        raise ScenarioError("GPULSE_NVML_SIM_SCENARIO is not set")
    return path


def load():
    path = scenario_path()
    try:
        with open(path) as f:
            scenario = json.load(f)
    except (OSError, ValueError) as e:
        raise ScenarioError("cannot read scenario %s: %s" % (path, e))
    if "gpus" not in scenario:
        raise ScenarioError("the fake wants a scenario with a `gpus` list (and a uuid per GPU)")
    return scenario


class Gpu:
    """One GPU of the scenario: values, and the NVML errors injected."""

    def __init__(self, scenario, index, entry):
        fields = dict(scenario.get("gpu_defaults", {}))
        fields.update(entry)
        if fields.get("lost"):
            raise ScenarioError("GPU %d: lost GPUs are not modelled" % index)
        if "uuid" not in fields:
            raise ScenarioError("GPU %d: give it an explicit uuid (the simulator derives one from a hash)" % index)
        self.index = index
        self.fields = fields
        self.model = fields.get("model", scenario.get("model", DEFAULT_MODEL))
        memory, limit, sm, mem, cc = MODELS.get(self.model, MODELS[DEFAULT_MODEL])
        self.model_power_limit = limit
        self.compute_cap = cc
        self.values = dict(DEFAULTS)
        self.values.update(memory_total_mib=memory, power_limit_w=limit, clock_sm_mhz=sm, clock_mem_mhz=mem)
        for key in list(self.values) + ["clock_graphics_mhz"]:
            if key in fields:
                value = fields[key]
                if isinstance(value, dict):
                    raise ScenarioError("GPU %d %s: waves are not modelled; use a constant" % (index, key))
                self.values[key] = value
        self.values.setdefault("clock_graphics_mhz", self.values["clock_sm_mhz"])
        self.errors = {name: normalized_error(code) for name, code in fields.get("errors", {}).items()}

    def value(self, key):
        return self.values[key]

    def error(self, call):
        """The error injected into an NVML call (or its family), or None."""
        for name, code in self.errors.items():
            if code and (name == call or name.startswith(call + "_") or
                         (call == "nvmlDeviceGetTemperature" and name == "nvmlDeviceGetTemperatureV")):
                return code
        return None

    @property
    def name(self):
        return self.fields.get("name", self.model)


def normalized_error(code):
    if code is None:
        return None
    code = str(code).upper()
    if code.startswith("NVML_ERROR_"):
        code = code[len("NVML_ERROR_"):]
    return None if code in ("SUCCESS", "NVML_SUCCESS") else code


def gpus(scenario=None):
    scenario = scenario or load()
    return [Gpu(scenario, i, entry) for i, entry in enumerate(scenario["gpus"])]


def fail(program, error):
    print("%s: %s" % (program, error), file=sys.stderr)
    sys.exit(2)
