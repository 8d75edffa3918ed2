#include "telemetry/slow_metrics_poller.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "telemetry/nvml_errors.h"

namespace gpulse::telemetry {

SlowMetricsPoller::SlowMetricsPoller(NvmlSession& session, SlowMetricsConfig config, Clock& clock)
    : session_(session), config_(config), clock_(clock) {}

SlowMetricsPoller::~SlowMetricsPoller() { Stop(); }

void SlowMetricsPoller::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void SlowMetricsPoller::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SlowMetricsPoller::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

bool SlowMetricsPoller::StopRequested() const {
  std::lock_guard lock(mu_);
  return stop_;
}

void SlowMetricsPoller::Run() {
  for (;;) {
    const Clock::TimePoint next = PollDue();
    std::unique_lock lock(mu_);
    if (stop_) return;
    const Clock::Duration wait = next - clock_.Now();
    if (wait > Clock::Duration::zero()) {
      wake_.wait_for(lock, wait, [this] { return stop_ || woken_; });
    }
    if (stop_) return;
  }
}

Clock::TimePoint SlowMetricsPoller::PollDue() {
  const uint64_t generation = session_.generation();
  bool everything_due = false;
  {
    std::lock_guard lock(mu_);
    everything_due = woken_;
    woken_ = false;
  }
  if (generation != polled_generation_) {
    everything_due = true;
    polled_generation_ = generation;
  }
  const Clock::TimePoint now = clock_.Now();
  const bool power_due = everything_due || now >= next_power_;
  const bool pcie_due = everything_due || now >= next_pcie_;
  const bool health_due = everything_due || now >= next_health_;
  bool interrupted = false;
  if (generation != 0 && (power_due || pcie_due || health_due)) {
    for (const GpuIdentity& gpu : session_.Inventory()) {
      if (StopRequested()) {
        interrupted = true;
        break;
      }
      PowerReading power;
      PcieReading pcie;
      HealthReading health;
      std::optional<GpmMetrics> gpm;
      if (power_due) power = session_.ReadPower(generation, gpu.index);
      if (pcie_due) pcie = session_.ReadPcie(generation, gpu.index);
      if (health_due) {
        health = ReadHealth(generation, gpu);
        gpm = ReadGpm(generation, gpu);
      }
      Store(generation, gpu.index, power_due ? &power : nullptr, pcie_due ? &pcie : nullptr,
            health_due ? &health : nullptr, health_due ? &gpm : nullptr);
    }
  }
  if (power_due) next_power_ = now + config_.power_interval;
  if (pcie_due) next_pcie_ = now + config_.pcie_interval;
  if (health_due) next_health_ = now + config_.health_interval;
  if (power_due && pcie_due && health_due && !interrupted) {
    {
      std::lock_guard lock(mu_);
      covered_generation_ = generation;
    }
    wake_.notify_all();
  }
  return std::min({next_power_, next_pcie_, next_health_});
}

HealthReading SlowMetricsPoller::ReadHealth(uint64_t generation, const GpuIdentity& gpu) {
  HealthFields& wanted = health_fields_[gpu.uuid];
  HealthReading reading = session_.ReadHealth(generation, gpu.index, wanted);
  auto disable_if_unsupported = [&](nvmlReturn_t code, bool* field, const char* what, const char* series) {
    if (!IsPermanentlyUnsupported(code)) return;
    *field = false;
    spdlog::info("GPU {} ({}): {} unavailable ({}); {} will not be reported", gpu.index, gpu.uuid, what,
                 NvmlReturnName(code), series);
  };
  disable_if_unsupported(reading.energy_mj.code, &wanted.energy, "energy counter", "its energy");
  disable_if_unsupported(reading.ecc_dbe_volatile.code, &wanted.ecc, "ECC error counts",
                         "its uncorrected ECC count");
  disable_if_unsupported(reading.remap.code, &wanted.remap, "row remapping", "its row remap state");
  disable_if_unsupported(reading.clock_event_reasons.code, &wanted.clock_event_reasons, "clock event reasons",
                         "its clock event reasons");
  return reading;
}

std::optional<GpmMetrics> SlowMetricsPoller::ReadGpm(uint64_t generation, const GpuIdentity& gpu) {
  HealthFields& wanted = health_fields_[gpu.uuid];
  if (!wanted.gpm) return std::nullopt;
  HealthField<GpmMetrics> reading = session_.ReadGpm(generation, gpu.index);
  if (IsPermanentlyUnsupported(reading.code)) {
    wanted.gpm = false;
    spdlog::info("GPU {} ({}): GPM metrics unavailable ({}); its DCGM_FI_PROF_* series will not be reported",
                 gpu.index, gpu.uuid, NvmlReturnName(reading.code));
  } else if (reading.code != NVML_SUCCESS) {
    if (gpm_failing_.insert(gpu.uuid).second) {
      spdlog::warn("GPU {} ({}): GPM metrics could not be read ({}); they stay absent until a read succeeds",
                   gpu.index, gpu.uuid, NvmlReturnName(reading.code));
    }
  } else {
    gpm_failing_.erase(gpu.uuid);
  }
  return reading.value;
}

void SlowMetricsPoller::Store(uint64_t generation, uint32_t index, const PowerReading* power,
                              const PcieReading* pcie, const HealthReading* health,
                              const std::optional<GpmMetrics>* gpm) {
  std::lock_guard lock(mu_);
  Cached& entry = cache_[index];
  if (entry.generation != generation) entry = Cached{generation, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  if (power != nullptr) entry.power = *power;
  if (pcie != nullptr) entry.pcie = *pcie;
  if (health != nullptr) entry.health = *health;
  if (gpm != nullptr) entry.gpm = *gpm;
}

bool SlowMetricsPoller::WaitForFirstReadings(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return wake_.wait_for(lock, timeout,
                        [this] { return covered_generation_ == session_.generation(); });
}

void SlowMetricsPoller::FillCached(uint64_t generation, std::vector<GpuSample>* gpus) const {
  std::lock_guard lock(mu_);
  for (GpuSample& gpu : *gpus) {
    if (!gpu.readable()) continue;
    auto it = cache_.find(gpu.identity.index);
    if (it == cache_.end() || it->second.generation != generation) continue;
    const Cached& entry = it->second;
    if (entry.power) {
      gpu.power_w = entry.power->power_w;
      gpu.power_limit_w = entry.power->power_limit_w;
    }
    if (entry.pcie) {
      gpu.pcie_tx_kbps = entry.pcie->tx_kbps;
      gpu.pcie_rx_kbps = entry.pcie->rx_kbps;
    }
    if (entry.health) {
      gpu.energy_mj = entry.health->energy_mj.value;
      gpu.ecc_dbe_volatile = entry.health->ecc_dbe_volatile.value;
      if (entry.health->remap.value) {
        gpu.row_remap_pending = entry.health->remap.value->pending;
        gpu.row_remap_failure = entry.health->remap.value->failure;
      }
      gpu.clock_event_reasons = entry.health->clock_event_reasons.value;
    }
    if (entry.gpm) {
      gpu.gr_engine_active = entry.gpm->gr_engine_active;
      gpu.sm_active = entry.gpm->sm_active;
      gpu.sm_occupancy = entry.gpm->sm_occupancy;
      gpu.pipe_tensor_active = entry.gpm->pipe_tensor_active;
    }
  }
}

}  // namespace gpulse::telemetry
