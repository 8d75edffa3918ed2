// gpulse-gpu-load SECONDS [READY_FILE]: keeps every SM of every NVIDIA GPU
// busy for SECONDS, for scripts/device-check.sh. Creates READY_FILE once the
// first round of kernels has finished, so the check measures a running load.
//
// It needs no CUDA toolkit to build or run: it dlopen()s the driver's
// libcuda.so.1 and JIT-compiles the PTX below, which is written for PTX ISA
// 6.0 / sm_50, so any driver since CUDA 9 can run it on any newer GPU (a
// binary built by a new nvcc would need a driver as new as its toolkit).
// Exits 1, saying why, where there is no driver or no GPU.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// The spin kernel: loops on the GPU's global nanosecond timer.
constexpr char kSpinPtx[] = R"(
.version 6.0
.target sm_50
.address_size 64

.visible .entry spin(.param .u64 spin_ns)
{
  .reg .pred p;
  .reg .u64 limit, start, now, elapsed;
  ld.param.u64 limit, [spin_ns];
  mov.u64 start, %globaltimer;
loop:
  mov.u64 now, %globaltimer;
  sub.u64 elapsed, now, start;
  setp.lt.u64 p, elapsed, limit;
  @p bra loop;
  ret;
}
)";

// The few CUDA driver API types and entry points used (cuda.h).
using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
using CUmodule = void*;
using CUfunction = void*;
using CUstream = void*;
constexpr int kAttributeMultiprocessorCount = 16;  // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT

struct Driver {
  CUresult (*init)(unsigned int);
  CUresult (*device_get_count)(int*);
  CUresult (*device_get)(CUdevice*, int);
  CUresult (*device_get_attribute)(int*, int, CUdevice);
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice);
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*ctx_synchronize)();
  CUresult (*module_load_data)(CUmodule*, const void*);
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*);
  CUresult (*launch_kernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                            CUstream, void**, void**);
  CUresult (*get_error_string)(CUresult, const char**);
};

template <typename F>
bool Resolve(void* library, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(library, name));
  if (*out == nullptr) std::fprintf(stderr, "gpulse-gpu-load: libcuda.so.1 lacks %s\n", name);
  return *out != nullptr;
}

bool LoadDriver(Driver* d) {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::fprintf(stderr, "gpulse-gpu-load: no NVIDIA driver: %s\n", dlerror());
    return false;
  }
  return Resolve(library, "cuInit", &d->init) && Resolve(library, "cuDeviceGetCount", &d->device_get_count) &&
         Resolve(library, "cuDeviceGet", &d->device_get) &&
         Resolve(library, "cuDeviceGetAttribute", &d->device_get_attribute) &&
         Resolve(library, "cuDevicePrimaryCtxRetain", &d->primary_ctx_retain) &&
         Resolve(library, "cuCtxSetCurrent", &d->ctx_set_current) &&
         Resolve(library, "cuCtxSynchronize", &d->ctx_synchronize) &&
         Resolve(library, "cuModuleLoadData", &d->module_load_data) &&
         Resolve(library, "cuModuleGetFunction", &d->module_get_function) &&
         Resolve(library, "cuLaunchKernel", &d->launch_kernel) &&
         Resolve(library, "cuGetErrorString", &d->get_error_string);
}

struct Gpu {
  CUcontext context = nullptr;
  CUfunction spin = nullptr;
  int sms = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  const char* ready = argc > 2 ? argv[2] : nullptr;
  Driver d{};
  if (!LoadDriver(&d)) return 1;
  auto ok = [&](CUresult rc, const char* what) {
    if (rc == 0) return true;
    const char* text = nullptr;
    d.get_error_string(rc, &text);
    std::fprintf(stderr, "gpulse-gpu-load: %s failed: %s (CUresult %d)\n", what, text ? text : "?", rc);
    return false;
  };
  int count = 0;
  if (!ok(d.init(0), "cuInit") || !ok(d.device_get_count(&count), "cuDeviceGetCount")) return 1;
  if (count == 0) {
    std::fprintf(stderr, "gpulse-gpu-load: no CUDA device\n");
    return 1;
  }
  std::vector<Gpu> gpus(count);
  for (int i = 0; i < count; ++i) {
    CUdevice device = 0;
    CUmodule module = nullptr;
    Gpu& g = gpus[i];
    if (!ok(d.device_get(&device, i), "cuDeviceGet") ||
        !ok(d.device_get_attribute(&g.sms, kAttributeMultiprocessorCount, device), "cuDeviceGetAttribute") ||
        !ok(d.primary_ctx_retain(&g.context, device), "cuDevicePrimaryCtxRetain") ||
        !ok(d.ctx_set_current(g.context), "cuCtxSetCurrent") ||
        !ok(d.module_load_data(&module, kSpinPtx), "cuModuleLoadData (PTX JIT)") ||
        !ok(d.module_get_function(&g.spin, module, "spin"), "cuModuleGetFunction")) {
      return 1;
    }
  }
  unsigned long long spin_ns = 100'000'000;  // 100 ms per launch
  void* params[] = {&spin_ns};
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (Gpu& g : gpus) {
      if (!ok(d.ctx_set_current(g.context), "cuCtxSetCurrent") ||
          !ok(d.launch_kernel(g.spin, g.sms * 4, 1, 1, 256, 1, 1, 0, nullptr, params, nullptr), "cuLaunchKernel")) {
        return 1;
      }
    }
    for (Gpu& g : gpus) {
      if (!ok(d.ctx_set_current(g.context), "cuCtxSetCurrent") || !ok(d.ctx_synchronize(), "the spin kernel")) {
        return 1;
      }
    }
    if (ready != nullptr) {  // the first round ran: the GPUs are busy
      if (std::FILE* f = std::fopen(ready, "w")) std::fclose(f);
      ready = nullptr;
    }
  }
  return 0;
}
