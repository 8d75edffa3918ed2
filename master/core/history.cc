#include "master/core/history.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpulse::master {
namespace {

constexpr float kUnknownF = std::numeric_limits<float>::quiet_NaN();
constexpr double kUnknownD = std::numeric_limits<double>::quiet_NaN();

template <typename T>
float ToFloat(const std::optional<T>& v) {
  return v ? static_cast<float>(*v) : kUnknownF;
}

int64_t ToMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Keeps the newest min(size, capacity) entries of a ring, oldest first, in a
// new vector of `capacity` entries.
template <typename T>
std::vector<T> Repack(const std::vector<T>& old, size_t head, size_t size, size_t capacity, T fill) {
  std::vector<T> out(capacity, fill);
  size_t keep = std::min(size, capacity);
  size_t old_capacity = old.size();
  for (size_t i = 0; i < keep; ++i) {
    size_t from = (head + old_capacity - keep + i) % old_capacity;
    out[i] = old[from];
  }
  return out;
}

}  // namespace

struct History::Ring {
  struct GpuRing {
    GpuIdentity identity;  // the latest known
    std::vector<float> utilization_gpu;
    std::vector<double> memory_used_bytes;
    std::vector<float> temperature_c;
    std::vector<float> power_w;

    explicit GpuRing(uint32_t i, size_t capacity)
        : utilization_gpu(capacity, kUnknownF),
          memory_used_bytes(capacity, kUnknownD),
          temperature_c(capacity, kUnknownF),
          power_w(capacity, kUnknownF) {
      identity.index = i;
    }

    void SetUnknown(size_t pos) {
      utilization_gpu[pos] = kUnknownF;
      memory_used_bytes[pos] = kUnknownD;
      temperature_c[pos] = kUnknownF;
      power_w[pos] = kUnknownF;
    }
  };

  mutable std::mutex mu;  // guards everything below
  std::chrono::milliseconds interval{0};
  size_t capacity = 0;
  size_t head = 0;  // where the next point goes
  size_t size = 0;  // points held, <= capacity
  std::vector<int64_t> t_ms;
  std::vector<float> cpu_percent, memory_percent, gpu_percent;
  std::vector<GpuRing> gpus;  // sorted by index

  // Changes the capacity, keeping the newest points.
  void Resize(size_t new_capacity) {
    if (capacity == 0) {
      t_ms.assign(new_capacity, 0);
      cpu_percent.assign(new_capacity, kUnknownF);
      memory_percent.assign(new_capacity, kUnknownF);
      gpu_percent.assign(new_capacity, kUnknownF);
    } else {
      t_ms = Repack<int64_t>(t_ms, head, size, new_capacity, 0);
      cpu_percent = Repack(cpu_percent, head, size, new_capacity, kUnknownF);
      memory_percent = Repack(memory_percent, head, size, new_capacity, kUnknownF);
      gpu_percent = Repack(gpu_percent, head, size, new_capacity, kUnknownF);
      for (GpuRing& g : gpus) {
        g.utilization_gpu = Repack(g.utilization_gpu, head, size, new_capacity, kUnknownF);
        g.memory_used_bytes = Repack(g.memory_used_bytes, head, size, new_capacity, kUnknownD);
        g.temperature_c = Repack(g.temperature_c, head, size, new_capacity, kUnknownF);
        g.power_w = Repack(g.power_w, head, size, new_capacity, kUnknownF);
      }
    }
    size = std::min(size, new_capacity);
    head = size % new_capacity;
    capacity = new_capacity;
  }

  // The ring of GPU `index`, or null when it is not registered. `hint` is
  // where it usually is: heartbeats list GPUs in index order.
  GpuRing* Gpu(uint32_t index, size_t hint) {
    if (hint < gpus.size() && gpus[hint].identity.index == index) return &gpus[hint];
    auto it = std::lower_bound(gpus.begin(), gpus.end(), index,
                               [](const GpuRing& g, uint32_t i) { return g.identity.index < i; });
    if (it != gpus.end() && it->identity.index == index) return &*it;
    return nullptr;
  }

  // Keeps the rings of the GPUs in `registered` (by index), adds rings for
  // new ones (all unknown), frees the others.
  void SetGpus(const std::vector<GpuIdentity>& registered) {
    std::vector<GpuRing> next;
    next.reserve(registered.size());
    for (const GpuIdentity& id : registered) {
      if (GpuRing* old = Gpu(id.index, next.size())) {
        next.push_back(std::move(*old));
      } else {
        next.emplace_back(id.index, capacity);
      }
      GpuIdentity& known = next.back().identity;
      if (!id.uuid.empty()) known.uuid = id.uuid;
      if (!id.name.empty()) known.name = id.name;
      if (!id.pci_bus_id.empty()) known.pci_bus_id = id.pci_bus_id;
      if (id.memory_total_bytes) known.memory_total_bytes = id.memory_total_bytes;
    }
    std::sort(next.begin(), next.end(),
              [](const GpuRing& a, const GpuRing& b) { return a.identity.index < b.identity.index; });
    next.erase(std::unique(next.begin(), next.end(),
                           [](const GpuRing& a, const GpuRing& b) { return a.identity.index == b.identity.index; }),
               next.end());
    gpus = std::move(next);
  }

  size_t Bytes() const {
    size_t per_point = sizeof(int64_t) + 3 * sizeof(float);
    size_t per_gpu_point = 3 * sizeof(float) + sizeof(double);
    return capacity * (per_point + gpus.size() * per_gpu_point);
  }
};

History::History(HistoryConfig config) : config_(config) {}
History::~History() = default;

size_t History::CapacityFor(std::chrono::milliseconds interval) const {
  if (interval.count() <= 0) interval = config_.default_interval;
  if (interval.count() <= 0) interval = std::chrono::milliseconds(5000);
  auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.window).count();
  size_t points = static_cast<size_t>((window_ms + interval.count() - 1) / interval.count());
  return std::clamp<size_t>(points, 2, std::max<size_t>(config_.max_points, 2));
}

std::shared_ptr<History::Ring> History::Find(const std::string& worker_id) const {
  std::shared_lock lock(map_mu_);
  auto it = rings_.find(worker_id);
  return it == rings_.end() ? nullptr : it->second;
}

void History::Register(const std::string& worker_id, std::chrono::milliseconds interval,
                       const std::vector<GpuIdentity>& gpus) {
  std::shared_ptr<Ring> ring = Find(worker_id);
  if (!ring) {
    std::unique_lock lock(map_mu_);
    auto& slot = rings_[worker_id];
    if (!slot) slot = std::make_shared<Ring>();
    ring = slot;
  }
  Ring& r = *ring;
  size_t capacity = CapacityFor(interval);
  std::lock_guard lock(r.mu);
  if (r.capacity != capacity) r.Resize(capacity);
  r.interval = interval.count() > 0 ? interval : config_.default_interval;
  r.SetGpus(gpus);
}

void History::Forget(const std::string& worker_id) {
  std::unique_lock lock(map_mu_);
  rings_.erase(worker_id);
}

size_t History::BytesHeld() const {
  std::shared_lock lock(map_mu_);
  size_t total = 0;
  for (const auto& [id, ring] : rings_) {
    std::lock_guard ring_lock(ring->mu);
    total += ring->Bytes();
  }
  return total;
}

void History::Record(const std::string& worker_id, const Sample& sample, WallTime at) {
  const HostSample& host = sample.host;
  const std::vector<GpuSample>& gpus = sample.gpus;
  std::shared_ptr<Ring> ring = Find(worker_id);
  if (!ring) return;  // not registered
  Ring& r = *ring;
  std::lock_guard lock(r.mu);

  const size_t pos = r.head;
  r.t_ms[pos] = ToMillis(at);
  r.cpu_percent[pos] = ToFloat(host.cpu_percent);
  r.memory_percent[pos] = ToFloat(host.memory_percent);
  r.gpu_percent[pos] = ToFloat(sample.gpu_percent);
  for (Ring::GpuRing& g : r.gpus) g.SetUnknown(pos);
  for (size_t i = 0; i < gpus.size(); ++i) {
    const GpuSample& s = gpus[i];
    const GpuIdentity& id = s.identity;
    Ring::GpuRing* found = r.Gpu(id.index, i);
    if (found == nullptr) continue;  // not registered: never allocates
    Ring::GpuRing& g = *found;
    GpuIdentity& known = g.identity;
    if (!id.uuid.empty() && known.uuid != id.uuid) known.uuid = id.uuid;
    if (!id.name.empty() && known.name != id.name) known.name = id.name;
    if (!id.pci_bus_id.empty() && known.pci_bus_id != id.pci_bus_id) known.pci_bus_id = id.pci_bus_id;
    if (id.memory_total_bytes) known.memory_total_bytes = id.memory_total_bytes;
    if (!s.readable()) continue;  // an unreadable GPU has no figures: unknown
    g.utilization_gpu[pos] = ToFloat(s.utilization_gpu);
    g.memory_used_bytes[pos] = s.memory_used_bytes ? static_cast<double>(*s.memory_used_bytes) : kUnknownD;
    g.temperature_c[pos] = ToFloat(s.temperature_c);
    g.power_w[pos] = ToFloat(s.power_w);
  }
  r.head = (pos + 1) % r.capacity;
  r.size = std::min(r.size + 1, r.capacity);
}

std::optional<WorkerHistory> History::Get(const std::string& worker_id, std::optional<WallTime> since) const {
  std::shared_ptr<const Ring> ring = Find(worker_id);
  if (!ring) return std::nullopt;
  const Ring& r = *ring;
  std::lock_guard lock(r.mu);
  const int64_t after = since ? ToMillis(*since) : std::numeric_limits<int64_t>::min();
  std::vector<size_t> slots;
  slots.reserve(r.size);
  for (size_t i = 0; i < r.size; ++i) {
    size_t slot = (r.head + r.capacity - r.size + i) % r.capacity;
    if (r.t_ms[slot] > after) slots.push_back(slot);
  }
  WorkerHistory out;
  out.interval = r.interval;
  auto column = [&](const auto& source, auto& target) {
    target.reserve(slots.size());
    for (size_t slot : slots) target.push_back(source[slot]);
  };
  column(r.t_ms, out.t_ms);
  column(r.cpu_percent, out.cpu_percent);
  column(r.memory_percent, out.memory_percent);
  column(r.gpu_percent, out.gpu_percent);
  for (const Ring::GpuRing& g : r.gpus) {
    WorkerHistory::Gpu& o = out.gpus.emplace_back();
    o.identity = g.identity;
    column(g.utilization_gpu, o.utilization_gpu);
    column(g.memory_used_bytes, o.memory_used_bytes);
    column(g.temperature_c, o.temperature_c);
    column(g.power_w, o.power_w);
  }
  return out;
}

namespace {

using nlohmann::json;

// Two decimals are plenty for a chart and keep floats from printing as
// 80.09999847412109.
json Rounded(const std::vector<float>& values) {
  json out = json::array();
  for (float v : values) {
    if (std::isnan(v)) {
      out.push_back(nullptr);
    } else {
      out.push_back(std::round(static_cast<double>(v) * 100.0) / 100.0);
    }
  }
  return out;
}

json Bytes(const std::vector<double>& values) {
  json out = json::array();
  for (double v : values) {
    if (std::isnan(v)) {
      out.push_back(nullptr);
    } else {
      out.push_back(static_cast<uint64_t>(v));
    }
  }
  return out;
}

}  // namespace

json HistoryToJson(const std::string& worker_id, const WorkerHistory& h, std::chrono::seconds window) {
  json t = json::array();
  for (int64_t ms : h.t_ms) t.push_back(static_cast<double>(ms) / 1000.0);
  json gpus = json::array();
  for (const auto& g : h.gpus) {
    gpus.push_back({
        {"index", g.identity.index},
        {"uuid", g.identity.uuid},
        {"name", g.identity.name},
        {"memory_total_bytes", g.identity.memory_total_bytes ? json(*g.identity.memory_total_bytes) : json(nullptr)},
        {"utilization_gpu", Rounded(g.utilization_gpu)},
        {"memory_used_bytes", Bytes(g.memory_used_bytes)},
        {"temperature_c", Rounded(g.temperature_c)},
        {"power_w", Rounded(g.power_w)},
    });
  }
  return {
      {"worker", worker_id},
      {"interval_seconds", std::chrono::duration<double>(h.interval).count()},
      {"window_seconds", window.count()},
      {"t", std::move(t)},
      {"host",
       {{"cpu_percent", Rounded(h.cpu_percent)},
        {"memory_percent", Rounded(h.memory_percent)},
        {"gpu_percent", Rounded(h.gpu_percent)}}},
      {"gpus", std::move(gpus)},
  };
}

}  // namespace gpulse::master
