#include "telemetry/nvml_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "telemetry/nvml_errors.h"

namespace gpulse::telemetry {

NvmlSession::NvmlSession(NvmlSessionConfig config, Clock& clock)
    : config_(std::move(config)), clock_(clock), retry_delay_(config_.initial_retry_delay) {}

NvmlSession::~NvmlSession() {
  std::unique_lock lock(mu_);
  FreeEventSetLocked();
  FreeGpmLocked();
  if (initialized_) library_->functions().shutdown();
}

void NvmlSession::FreeGpmLocked() {
  std::lock_guard gpm_lock(gpm_mu_);
  gpm_samplers_.clear();
}

void NvmlSession::FreeEventSetLocked() {
  std::lock_guard events_lock(events_mu_);
  if (event_set_ != nullptr && initialized_ && library_->functions().event_set_free != nullptr) {
    library_->functions().event_set_free(event_set_);
  }
  event_set_ = nullptr;
  event_generation_ = 0;
  events_unsupported_ = false;
  watched_.clear();
}

void NvmlSession::Maintain() {
  if (!work_pending_.load(std::memory_order_acquire)) return;
  Pending what;
  std::string reason;
  {
    std::lock_guard retry_lock(retry_mu_);
    if (pending_ == Pending::kNothing) return;
    if (pending_ == Pending::kInit && clock_.Now() < next_attempt_) return;
    what = pending_;
    reason = std::move(pending_reason_);
    pending_ = Pending::kNothing;
    work_pending_.store(false, std::memory_order_release);
  }
  std::unique_lock lock(mu_);
  if (what == Pending::kTeardown) {
    TearDownLocked(reason);
    ScheduleRetry(reason);
    return;
  }
  InitLocked();
}

void NvmlSession::TearDownLocked(const std::string& reason) {
  FreeEventSetLocked();
  FreeGpmLocked();
  if (initialized_) {
    library_->functions().shutdown();
    initialized_ = false;
  }
  devices_.clear();
  state_.available = false;
  state_.error = reason;
  spdlog::warn("NVML stopped working: {}", reason);
}

void NvmlSession::InitLocked() {
  // Keep the last known identities, so a GPU that cannot be opened this time
  // is still reported under its name and UUID.
  std::vector<GpuIdentity> previous;
  for (Device& d : devices_) previous.push_back(std::move(d.info));
  devices_.clear();
  FreeEventSetLocked();
  FreeGpmLocked();
  if (initialized_) {
    library_->functions().shutdown();
    initialized_ = false;
  }
  init_attempts_.fetch_add(1, std::memory_order_relaxed);

  Status status = OpenAndInitLocked();
  if (!status.ok()) {
    devices_.clear();
    if (state_.available || state_.error != status.message()) {
      spdlog::warn("NVML unavailable: {}", status.message());
    }
    state_.available = false;
    state_.error = status.message();
    ScheduleRetry(status.message());
    return;
  }
  initialized_ = true;
  state_.available = true;
  state_.error.reset();
  generation_.fetch_add(1, std::memory_order_acq_rel);
  spdlog::info("NVML initialised from {}: driver {}, {} GPU(s)", library_->path(),
               state_.driver_version.value_or("unknown"), devices_.size());
  std::optional<std::string> lost;
  for (Device& d : devices_) {
    if (!d.error) continue;
    if (!lost) lost = "GPU " + std::to_string(d.info.index) + ": " + *d.error;
    for (const GpuIdentity& old : previous) {
      if (old.index == d.info.index && d.info.uuid.empty()) d.info = old;
    }
  }
  if (lost) ScheduleRetry(*lost);
}

Status NvmlSession::OpenAndInitLocked() {
  if (!library_) {
    ASSIGN_OR_RETURN(library_, NvmlLibrary::Open(config_.library_path));
    if (!library_->missing_optional().empty()) {
      std::string names;
      for (const std::string& n : library_->missing_optional()) names += " " + n;
      spdlog::debug("NVML library {} lacks optional functions:{}", library_->path(), names);
    }
  }
  const NvmlFunctions& nvml = library_->functions();
  nvmlReturn_t rc = nvml.init();
  if (rc != NVML_SUCCESS) {
    CountError(rc);
    return NvmlError(rc, "nvmlInit");
  }

  state_.driver_version.reset();
  if (nvml.system_get_driver_version != nullptr) {
    char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
    if (nvml.system_get_driver_version(version, sizeof(version)) == NVML_SUCCESS) {
      state_.driver_version = std::string(version, strnlen(version, sizeof(version)));
    }
  }

  unsigned int count = 0;
  rc = nvml.device_get_count(&count);
  if (rc != NVML_SUCCESS) {
    CountError(rc);
    nvml.shutdown();
    return NvmlError(rc, "nvmlDeviceGetCount");
  }
  for (unsigned int i = 0; i < count; ++i) {
    Device device;
    device.info.index = i;
    rc = nvml.device_get_handle_by_index(i, &device.handle);
    NvmlFailure failure{rc, "nvmlDeviceGetHandleByIndex"};
    if (rc == NVML_SUCCESS) failure = ReadStaticInfo(nvml, device.handle, &device.info);
    if (!failure.ok()) CountError(failure.code);
    if (IsNvmlDriverFailure(failure.code)) {
      nvml.shutdown();
      devices_.clear();
      return NvmlError(failure.code, failure.call);
    }
    if (!failure.ok()) {
      device.handle = nullptr;
      device.error = NvmlError(failure.code, failure.call).message();
      spdlog::warn("GPU {} cannot be opened: {}", i, *device.error);
    }
    devices_.push_back(std::move(device));
  }
  return Status::Ok();
}

void NvmlSession::CountError(nvmlReturn_t code) {
  std::lock_guard lock(errors_mu_);
  ++error_counts_[NvmlReturnName(code)];
}

std::map<std::string, uint64_t> NvmlSession::ErrorCounts() const {
  std::lock_guard lock(errors_mu_);
  return error_counts_;
}

GpuReadout NvmlSession::ReadGpus() {
  GpuReadout out;
  std::string lost_reason;
  std::string driver_failure;
  bool healthy = true;
  {
    std::shared_lock lock(mu_);
    if (!initialized_) return out;
    out.generation = generation_.load(std::memory_order_acquire);
    const NvmlFunctions& nvml = library_->functions();
    out.gpus.reserve(devices_.size());
    for (const Device& d : devices_) {
      GpuSample& s = out.gpus.emplace_back(UnreadSample(d.info));
      if (d.error) {
        s.error = d.error;
        healthy = false;
        if (lost_reason.empty()) lost_reason = *d.error;
        continue;
      }
      NvmlFailure failure = ReadFastMetrics(nvml, d.handle, &s);
      if (failure.ok()) continue;
      CountError(failure.code);
      healthy = false;
      s.error = NvmlError(failure.code, failure.call).message();
      if (IsNvmlDriverFailure(failure.code)) {
        if (driver_failure.empty()) driver_failure = *s.error;
      } else if (IsNvmlGpuLost(failure.code)) {
        if (lost_reason.empty()) lost_reason = "GPU " + std::to_string(s.identity.index) + ": " + *s.error;
      }
    }
  }
  if (!driver_failure.empty()) {
    RequestTeardown(driver_failure);
  } else if (!lost_reason.empty()) {
    ScheduleRetry(lost_reason);
  } else if (healthy) {
    NoteHealthyRead();
  }
  return out;
}

const NvmlSession::Device* NvmlSession::FindDeviceLocked(uint64_t generation,
                                                         uint32_t index) const {
  if (!initialized_ || generation != generation_.load(std::memory_order_acquire)) return nullptr;
  for (const Device& d : devices_) {
    if (d.info.index == index) return d.handle != nullptr ? &d : nullptr;
  }
  return nullptr;
}

PowerReading NvmlSession::ReadPower(uint64_t generation, uint32_t index) {
  std::shared_lock lock(mu_);
  const Device* d = FindDeviceLocked(generation, index);
  if (d == nullptr) return {};
  return gpulse::telemetry::ReadPower(library_->functions(), d->handle);
}

PcieReading NvmlSession::ReadPcie(uint64_t generation, uint32_t index) {
  std::shared_lock lock(mu_);
  const Device* d = FindDeviceLocked(generation, index);
  if (d == nullptr) return {};
  return gpulse::telemetry::ReadPcie(library_->functions(), d->handle);
}

HealthReading NvmlSession::ReadHealth(uint64_t generation, uint32_t index, HealthFields wanted) {
  std::shared_lock lock(mu_);
  const Device* d = FindDeviceLocked(generation, index);
  if (d == nullptr) return {};
  return gpulse::telemetry::ReadHealth(library_->functions(), d->handle, wanted);
}

HealthField<GpmMetrics> NvmlSession::ReadGpm(uint64_t generation, uint32_t index) {
  std::shared_lock lock(mu_);
  const Device* d = FindDeviceLocked(generation, index);
  if (d == nullptr) return {};
  std::lock_guard gpm_lock(gpm_mu_);
  std::unique_ptr<GpmSampler>& sampler = gpm_samplers_[index];
  if (!sampler) {
    HealthField<GpmMetrics> failed;
    failed.code = GpmSampler::Open(library_->functions(), d->handle, &sampler);
    if (failed.code != NVML_SUCCESS) return failed;
  }
  return sampler->Take();
}

NvmlEventWait NvmlSession::WaitForEvent(std::chrono::milliseconds timeout) {
  NvmlEventWait out;
  std::shared_lock lock(mu_);
  if (!initialized_) return out;
  const NvmlFunctions& nvml = library_->functions();
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  out.generation = generation;
  std::unique_lock events_lock(events_mu_);
  if (event_generation_ != generation) {
    // A new initialisation (its old set was freed at teardown): register.
    event_generation_ = generation;
    events_unsupported_ = true;
    watched_.clear();
    out.watched_uuids.emplace();
    if (nvml.event_set_create != nullptr && nvml.device_register_events != nullptr &&
        nvml.event_set_wait != nullptr && nvml.event_set_free != nullptr &&
        nvml.event_set_create(&event_set_) == NVML_SUCCESS) {
      for (const Device& d : devices_) {
        if (d.handle == nullptr) continue;
        nvmlReturn_t rc = nvml.device_register_events(
            d.handle, nvmlEventTypeXidCriticalError | nvmlEventTypeDoubleBitEccError, event_set_);
        if (rc == NVML_ERROR_NOT_SUPPORTED) {
          rc = nvml.device_register_events(d.handle, nvmlEventTypeXidCriticalError, event_set_);
        }
        if (rc == NVML_SUCCESS) {
          watched_.push_back({d.handle, d.info.index, d.info.uuid});
          out.watched_uuids->push_back(d.info.uuid);
        } else {
          out.unwatched.push_back("GPU " + std::to_string(d.info.index) + ": " + NvmlReturnName(rc));
        }
      }
      events_unsupported_ = watched_.empty();
    } else if (nvml.event_set_create == nullptr || nvml.device_register_events == nullptr ||
               nvml.event_set_wait == nullptr || nvml.event_set_free == nullptr) {
      out.unwatched.push_back("the NVML library lacks the event functions");
    } else {
      out.unwatched.push_back("nvmlEventSetCreate failed");
    }
  }
  if (events_unsupported_) {
    out.outcome = NvmlEventWait::Outcome::kUnsupported;
    return out;
  }
  // The wait needs only events_mu_: readers go on, and a teardown waits for it.
  lock.unlock();
  nvmlEventData_t data{};
  const nvmlReturn_t rc = nvml.event_set_wait(event_set_, &data, static_cast<unsigned int>(timeout.count()));
  if (rc != NVML_SUCCESS) {
    // TIMEOUT: look again; anything else (a lost GPU, a driver failure):
    // look again later, after the sampler's own reads have noticed it.
    out.outcome = rc == NVML_ERROR_TIMEOUT ? NvmlEventWait::Outcome::kTimeout : NvmlEventWait::Outcome::kNotReady;
    return out;
  }
  for (const WatchedDevice& w : watched_) {
    if (w.handle != data.device) continue;
    out.outcome = NvmlEventWait::Outcome::kEvent;
    out.gpu_uuid = w.uuid;
    out.gpu_index = w.index;
    out.type = data.eventType;
    out.data = data.eventData;
    return out;
  }
  out.outcome = NvmlEventWait::Outcome::kTimeout;  // a GPU this session does not know
  return out;
}

NvmlState NvmlSession::State() const {
  std::shared_lock lock(mu_);
  return state_;
}

std::vector<GpuIdentity> NvmlSession::Inventory() const {
  std::shared_lock lock(mu_);
  std::vector<GpuIdentity> inventory;
  inventory.reserve(devices_.size());
  for (const Device& d : devices_) inventory.push_back(d.info);
  return inventory;
}

void NvmlSession::ScheduleRetry(const std::string& reason) {
  std::lock_guard retry_lock(retry_mu_);
  if (pending_ != Pending::kNothing) return;
  pending_ = Pending::kInit;
  pending_reason_ = reason;
  next_attempt_ = clock_.Now() + retry_delay_;
  spdlog::info("NVML: initialising again in {} ms ({})",
               std::chrono::duration_cast<std::chrono::milliseconds>(retry_delay_).count(), reason);
  retry_delay_ = std::min(retry_delay_ * 2, config_.max_retry_delay);
  delay_raised_.store(true, std::memory_order_relaxed);
  work_pending_.store(true, std::memory_order_release);
}

void NvmlSession::RequestTeardown(const std::string& reason) {
  std::lock_guard retry_lock(retry_mu_);
  if (pending_ == Pending::kTeardown) return;
  pending_ = Pending::kTeardown;
  pending_reason_ = reason;
  work_pending_.store(true, std::memory_order_release);
}

void NvmlSession::NoteHealthyRead() {
  if (!delay_raised_.load(std::memory_order_relaxed)) return;
  std::lock_guard retry_lock(retry_mu_);
  if (pending_ != Pending::kNothing) return;
  retry_delay_ = config_.initial_retry_delay;
  delay_raised_.store(false, std::memory_order_relaxed);
}

}  // namespace gpulse::telemetry
