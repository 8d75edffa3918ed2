#include "telemetry/nvml_event_watcher.h"

#include <spdlog/spdlog.h>

namespace gpulse::telemetry {

NvmlEventWatcher::NvmlEventWatcher(NvmlSession& session, NvmlEventWatcherConfig config)
    : session_(session), config_(config) {}

NvmlEventWatcher::~NvmlEventWatcher() { Stop(); }

void NvmlEventWatcher::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void NvmlEventWatcher::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void NvmlEventWatcher::Run() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    const NvmlEventWait::Outcome outcome = PollOnce();
    if (outcome == NvmlEventWait::Outcome::kEvent || outcome == NvmlEventWait::Outcome::kTimeout) continue;
    // Nothing to wait on now: look again later, or stop.
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, config_.wait_timeout, [this] { return stop_; });
  }
}

NvmlEventWait::Outcome NvmlEventWatcher::PollOnce() {
  NvmlEventWait wait = session_.WaitForEvent(config_.wait_timeout);
  if (wait.watched_uuids) {
    if (!wait.unwatched.empty()) {
      std::string why;
      for (const std::string& w : wait.unwatched) why += (why.empty() ? "" : "; ") + w;
      spdlog::info("NVML events (XID, double-bit ECC) not watched for: {}; their XID and DBE series are absent",
                   why);
    }
    std::lock_guard lock(mu_);
    watched_ = std::set<std::string>(wait.watched_uuids->begin(), wait.watched_uuids->end());
    for (const std::string& uuid : watched_) events_[uuid];  // watched: counts start at zero
  }
  if (wait.outcome != NvmlEventWait::Outcome::kEvent) return wait.outcome;
  {
    std::lock_guard lock(mu_);
    GpuEvents& events = events_[wait.gpu_uuid];
    if (wait.type == nvmlEventTypeXidCriticalError) {
      const auto xid = static_cast<uint32_t>(wait.data);
      events.last_xid = xid;
      ++events.xid_counts[xid];
    } else if (wait.type == nvmlEventTypeDoubleBitEccError) {
      ++events.dbe_events;
    }
  }
  if (wait.type == nvmlEventTypeXidCriticalError) {
    spdlog::warn("GPU {} ({}): XID {} reported by the driver", wait.gpu_index, wait.gpu_uuid, wait.data);
  } else {
    spdlog::warn("GPU {} ({}): double-bit ECC error reported by the driver", wait.gpu_index, wait.gpu_uuid);
  }
  return wait.outcome;
}

void NvmlEventWatcher::Fill(std::vector<GpuSample>* gpus) const {
  std::lock_guard lock(mu_);
  for (GpuSample& gpu : *gpus) {
    if (!gpu.readable() || !watched_.contains(gpu.identity.uuid)) continue;
    auto it = events_.find(gpu.identity.uuid);
    if (it != events_.end()) gpu.events = it->second;
  }
}

}  // namespace gpulse::telemetry
