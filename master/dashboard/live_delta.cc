#include "master/dashboard/live_delta.h"

#include <set>

namespace gpulse::master {
namespace {

using nlohmann::json;

// Replaces `sent` by the items of `now` (an array of objects with "id");
// appends changed or new items to `changed` and ids that left to `removed`.
void Diff(const json& now, std::map<std::string, std::string>& sent, json& changed, json& removed) {
  std::set<std::string> present;
  for (const json& item : now) {
    std::string id = item.at("id").get<std::string>();
    std::string text = item.dump();
    present.insert(id);
    auto it = sent.find(id);
    if (it != sent.end() && it->second == text) continue;
    changed.push_back(item);
    sent[id] = std::move(text);
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

std::optional<LiveEvent> LiveDelta::Next(const json& snapshot) {
  json workers = json::array(), workers_removed = json::array();
  json tasks = json::array(), tasks_removed = json::array();
  Diff(snapshot.at("workers"), workers_, workers, workers_removed);
  Diff(snapshot.at("tasks"), tasks_, tasks, tasks_removed);
  std::string summary = snapshot.at("summary").dump();
  bool summary_changed = summary != summary_;
  summary_ = std::move(summary);
  uint64_t tasks_total = snapshot.at("tasks_total").get<uint64_t>();
  bool total_changed = tasks_total != tasks_total_;
  tasks_total_ = tasks_total;
  uint64_t base = version_;
  version_ = snapshot.at("version").get<uint64_t>();

  if (!started_) {
    started_ = true;
    return LiveEvent{"snapshot", snapshot};
  }
  if (workers.empty() && workers_removed.empty() && tasks.empty() && tasks_removed.empty() && !summary_changed &&
      !total_changed) {
    version_ = base;  // nothing sent: the client stays at `base`
    return std::nullopt;
  }
  json delta = {{"base", base}, {"version", version_}, {"now", snapshot.at("now")}};
  if (summary_changed) delta["summary"] = snapshot.at("summary");
  if (total_changed) delta["tasks_total"] = tasks_total;
  if (!workers.empty()) delta["workers"] = std::move(workers);
  if (!workers_removed.empty()) delta["workers_removed"] = std::move(workers_removed);
  if (!tasks.empty()) delta["tasks"] = std::move(tasks);
  if (!tasks_removed.empty()) delta["tasks_removed"] = std::move(tasks_removed);
  return LiveEvent{"delta", std::move(delta)};
}

}  // namespace gpulse::master
