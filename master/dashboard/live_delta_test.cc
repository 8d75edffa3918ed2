#include "master/dashboard/live_delta.h"

#include <vector>

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using nlohmann::json;

json Worker(const std::string& id, double util) {
  return {{"id", id}, {"state", "healthy"}, {"gpus", json::array({json{{"index", 0}, {"utilization_gpu", util}}})}};
}

json Task(const std::string& id, const std::string& state) { return {{"id", id}, {"state", state}}; }

// Lists as vectors: a one-element braced list given to a `json` is a copy
// of that element for g++ but a one-element array for clang.
json Snapshot(uint64_t version, double now, std::vector<json> workers, std::vector<json> tasks, int queued = 0) {
  return {{"version", version},
          {"now", now},
          {"summary", {{"tasks", {{"queued", queued}}}}},
          {"workers", json(std::move(workers))},
          {"tasks", json(std::move(tasks))},
          {"tasks_total", 10000}};
}

TEST(LiveDeltaTest, FirstEventIsTheWholeSnapshot) {
  LiveDelta sent;
  json snap = Snapshot(7, 1.0, {Worker("a", 10)}, {Task("t-1", "queued")});
  std::optional<LiveEvent> event = sent.Next(snap);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->name, "snapshot");
  EXPECT_EQ(event->data, snap);
}

TEST(LiveDeltaTest, OnlyTheFigureThatChangedIsSentWithTheVersionItAppliesTo) {
  LiveDelta sent;
  sent.Next(Snapshot(7, 1.0, {Worker("a", 10), Worker("b", 20)}, {Task("t-1", "queued")}));
  std::optional<LiveEvent> event = sent.Next(Snapshot(9, 2.0, {Worker("a", 10), Worker("b", 85)}, {Task("t-1", "queued")}));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->name, "delta");
  EXPECT_EQ(event->data["base"], 7);
  EXPECT_EQ(event->data["version"], 9);
  EXPECT_EQ(event->data["now"], 2.0);
  EXPECT_FALSE(event->data.contains("workers"));  // nothing whole
  EXPECT_EQ(event->data["worker_patches"], json::parse(R"({"b": {"gpus": {"0": {"utilization_gpu": 85}}}})"));
  EXPECT_FALSE(event->data.contains("tasks"));
  EXPECT_FALSE(event->data.contains("summary"));
  EXPECT_FALSE(event->data.contains("tasks_total"));
}

TEST(LiveDeltaTest, NothingIsSentWhenOnlyTheClockMovedAndTheNextDeltaStartsFromWhatWasSent) {
  LiveDelta sent;
  sent.Next(Snapshot(7, 1.0, {Worker("a", 10)}, {}));
  EXPECT_FALSE(sent.Next(Snapshot(8, 2.0, {Worker("a", 10)}, {})));
  std::optional<LiveEvent> event = sent.Next(Snapshot(9, 3.0, {Worker("a", 50)}, {}));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data["base"], 7);  // the client never saw 8
  EXPECT_EQ(event->data["version"], 9);
}

TEST(LiveDeltaTest, TasksAndWorkersThatLeftAreNamedAndNewOnesSentWhole) {
  LiveDelta sent;
  sent.Next(Snapshot(1, 1.0, {Worker("a", 10), Worker("b", 10)}, {Task("t-1", "running"), Task("t-2", "queued")}));
  std::optional<LiveEvent> event =
      sent.Next(Snapshot(2, 2.0, {Worker("a", 10)}, {Task("t-2", "running"), Task("t-3", "queued")}, 1));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data["workers_removed"], json::array({"b"}));
  EXPECT_EQ(event->data["tasks_removed"], json::array({"t-1"}));
  EXPECT_EQ(event->data["tasks"], json::array({Task("t-3", "queued")}));
  EXPECT_EQ(event->data["task_patches"], json::parse(R"({"t-2": {"state": "running"}})"));
  EXPECT_EQ(event->data["summary"]["tasks"]["queued"], 1);
}

TEST(LiveDeltaTest, ManyUnchangedTasksCostNothingInADelta) {
  std::vector<json> tasks;
  for (int i = 0; i < 10000; ++i) tasks.push_back(Task("t-" + std::to_string(i), "queued"));
  LiveDelta sent;
  ASSERT_GT(sent.Next(Snapshot(1, 1.0, {Worker("a", 10)}, tasks))->data.dump().size(), 200000u);
  std::optional<LiveEvent> event = sent.Next(Snapshot(2, 2.0, {Worker("a", 11)}, tasks));
  ASSERT_TRUE(event);
  EXPECT_LT(event->data.dump().size(), 200u);
}

TEST(LiveDeltaTest, AnItemThatLostAKeyIsSentWhole) {
  LiveDelta sent;
  json before = Task("t-1", "running");
  before["usage"] = {{"gpu_percent", 50}};
  sent.Next(Snapshot(1, 1.0, {}, {before}));
  std::optional<LiveEvent> event = sent.Next(Snapshot(2, 2.0, {}, {Task("t-1", "running")}));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data["tasks"], json::array({Task("t-1", "running")}));
  EXPECT_FALSE(event->data.contains("task_patches"));
}

TEST(MakePatchTest, PatchesNestedObjectsAndArraysOfTheSameLengthByPosition) {
  json patch;
  ASSERT_TRUE(MakePatch(json::parse(R"({"a": 1, "b": {"c": [1, 2, 3], "d": null}, "e": [1]})"),
                        json::parse(R"({"a": 1, "b": {"c": [1, 5, 3], "d": {"x": 1}}, "e": [1, 2]})"), patch));
  EXPECT_EQ(patch, json::parse(R"({"b": {"c": {"1": 5}, "d": {"x": 1}}, "e": [1, 2]})"));
  EXPECT_FALSE(MakePatch(json::parse(R"([1, 2])"), json::parse(R"({"0": 1})"), patch));
}

}  // namespace
}  // namespace gpulse::master
