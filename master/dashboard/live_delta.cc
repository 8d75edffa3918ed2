#include "master/dashboard/live_delta.h"

#include <set>

namespace gpulse::master {
namespace {

using nlohmann::json;

// Replaces `sent` by the items of `now` (an array of objects with "id");
// adds a patch to `patches` (by id) for each changed item a patch can
// describe, the whole item to `whole` for the others and new ones, and the
// ids that left to `removed`.
void Diff(const json& now, std::map<std::string, json>& sent, json& whole, json& patches, json& removed) {
  std::set<std::string> present;
  for (const json& item : now) {
    std::string id = item.at("id").get<std::string>();
    present.insert(id);
    auto it = sent.find(id);
    if (it == sent.end()) {
      whole.push_back(item);
      sent.emplace(id, item);
      continue;
    }
    if (it->second == item) continue;
    json patch;
    if (MakePatch(it->second, item, patch)) patches[id] = std::move(patch);
    else whole.push_back(item);
    it->second = item;
  }
  for (auto it = sent.begin(); it != sent.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    removed.push_back(it->first);
    it = sent.erase(it);
  }
}

}  // namespace

bool MakePatch(const json& before, const json& after, json& patch) {
  if (before.is_object() && after.is_object()) {
    for (const auto& [key, value] : before.items()) {
      if (!after.contains(key)) return false;
    }
    patch = json::object();
    for (const auto& [key, value] : after.items()) {
      auto old = before.find(key);
      if (old == before.end()) {
        patch[key] = value;
        continue;
      }
      if (*old == value) continue;
      json sub;
      if (!MakePatch(*old, value, sub)) return false;
      patch[key] = std::move(sub);
    }
    return true;
  }
  if (before.is_array() && after.is_array() && before.size() == after.size()) {
    patch = json::object();
    for (size_t i = 0; i < after.size(); ++i) {
      if (before[i] == after[i]) continue;
      json sub;
      if (!MakePatch(before[i], after[i], sub)) return false;
      patch[std::to_string(i)] = std::move(sub);
    }
    return true;
  }
  // A patch object on an array or object would be read as a patch.
  if (after.is_object() && (before.is_array() || before.is_object())) return false;
  patch = after;
  return true;
}

std::optional<LiveEvent> LiveDelta::Next(const json& snapshot) {
  json workers = json::array(), worker_patches = json::object(), workers_removed = json::array();
  json tasks = json::array(), task_patches = json::object(), tasks_removed = json::array();
  Diff(snapshot.at("workers"), workers_, workers, worker_patches, workers_removed);
  Diff(snapshot.at("tasks"), tasks_, tasks, task_patches, tasks_removed);
  json summary;
  bool summary_changed = snapshot.at("summary") != summary_json_;
  if (summary_changed && !MakePatch(summary_json_, snapshot.at("summary"), summary)) summary = snapshot.at("summary");
  summary_json_ = snapshot.at("summary");
  uint64_t tasks_total = snapshot.at("tasks_total").get<uint64_t>();
  bool total_changed = tasks_total != tasks_total_;
  tasks_total_ = tasks_total;
  uint64_t base = version_;
  version_ = snapshot.at("version").get<uint64_t>();

  if (!started_) {
    started_ = true;
    return LiveEvent{"snapshot", snapshot};
  }
  if (workers.empty() && worker_patches.empty() && workers_removed.empty() && tasks.empty() && task_patches.empty() &&
      tasks_removed.empty() && !summary_changed && !total_changed) {
    version_ = base;  // nothing sent: the client stays at `base`
    return std::nullopt;
  }
  json delta = {{"base", base}, {"version", version_}, {"now", snapshot.at("now")}};
  if (summary_changed) delta["summary"] = std::move(summary);
  if (total_changed) delta["tasks_total"] = tasks_total;
  if (!workers.empty()) delta["workers"] = std::move(workers);
  if (!worker_patches.empty()) delta["worker_patches"] = std::move(worker_patches);
  if (!workers_removed.empty()) delta["workers_removed"] = std::move(workers_removed);
  if (!tasks.empty()) delta["tasks"] = std::move(tasks);
  if (!task_patches.empty()) delta["task_patches"] = std::move(task_patches);
  if (!tasks_removed.empty()) delta["tasks_removed"] = std::move(tasks_removed);
  return LiveEvent{"delta", std::move(delta)};
}

}  // namespace gpulse::master
