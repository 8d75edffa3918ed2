// Golden tests of the CLI's tables at 80 columns, from fixed API JSON and
// a fixed clock.
#include "cli/fleet_views.h"

#include <gtest/gtest.h>

#include "cli/table.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

constexpr double kNow = 1800000000.0;

json Gpu(int index, std::optional<double> util, const std::string& health, const char* task = nullptr) {
  return {{"index", index},
          {"name", "NVIDIA H100 80GB HBM3"},
          {"uuid", "GPU-" + std::to_string(index)},
          {"utilization_gpu", util ? json(*util) : json()},
          {"memory_used_bytes", 34359738368.0},
          {"memory_total_bytes", 85899345920.0},
          {"temperature_c", 61},
          {"power_w", 312.4},
          {"health", health},
          {"healthy", health != "unhealthy"},
          {"error", nullptr},
          {"allocated_to", task ? json(task) : json()}};
}

json Fleet() {
  json live = {{"id", "gpu-node-01"},
               {"state", "healthy"},
               {"connected", true},
               {"draining", false},
               {"unhealthy_reason", nullptr},
               {"cpu_percent", 12.4},
               {"memory_percent", 40.2},
               {"gpu_percent", 56.5},
               {"gpu_capacity", 2},
               {"gpu_allocated", 1},
               {"gpu_models", json::array({json{{"name", "NVIDIA H100 80GB HBM3"}, {"count", 2}}})},
               {"gpus", {Gpu(0, 95, "healthy", "t-000014"), Gpu(1, 18, "degraded")}},
               {"nvml", {{"available", true}}},
               {"seconds_since_heartbeat", 1.7}};
  json drained = live;
  drained["id"] = "gpu-node-02-with-a-long-name";
  drained["draining"] = true;
  drained["gpu_allocated"] = 0;
  drained["gpus"] = {Gpu(0, 0, "healthy"), Gpu(1, std::nullopt, "unhealthy")};
  json dead = live;
  dead["id"] = "gpu-node-03";
  dead["state"] = "dead";
  dead["connected"] = false;
  dead["seconds_since_heartbeat"] = 600.0;
  dead["gpus"] = json::array({Gpu(0, 99, "healthy")});  // json::array: a braced one-element list is not one for every compiler
  dead["gpu_capacity"] = 1;
  dead["gpu_allocated"] = 0;
  return {live, drained, dead};
}

json Tasks() {
  json running = {{"id", "t-000014"},   {"name", "train"},       {"state", "running"},
                  {"finished", false},  {"argv", {"python", "train.py"}},
                  {"gpus_requested", 1}, {"gpu_indices", {0}},   {"gpus", {"GPU-0"}},
                  {"worker", "gpu-node-01"},                     {"attempts", 1},
                  {"exit_code", nullptr}, {"message", ""},       {"pending_reason", nullptr},
                  {"submitted_at", kNow - 400}, {"started_at", kNow - 252}, {"finished_at", nullptr}};
  json queued = running;
  queued["id"] = "t-000015";
  queued["name"] = "";
  queued["argv"] = {"sh", "-c", "sleep 100 && echo done with a very long command line"};
  queued["state"] = "queued";
  queued["gpus_requested"] = 8;
  queued["gpu_indices"] = json::array();
  queued["worker"] = nullptr;
  queued["attempts"] = 0;
  queued["pending_reason"] = "no worker has 8 free GPUs (largest: 2)";
  queued["started_at"] = nullptr;
  queued["submitted_at"] = kNow - 30;
  json failed = running;
  failed["id"] = "t-000010";
  failed["name"] = "eval";
  failed["state"] = "failed";
  failed["finished"] = true;
  failed["exit_code"] = 3;
  failed["gpu_indices"] = {0, 1};
  failed["submitted_at"] = kNow - 7300;
  failed["started_at"] = kNow - 7290;
  failed["finished_at"] = kNow - 3570;
  return {queued, running, failed};
}

void ExpectFits(const std::string& text, size_t width) {
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(DisplayWidth(text.substr(start, end - start)), width) << text.substr(start, end - start);
  }
}

const ViewOptions kView{.now = kNow, .width = 80, .wide = false, .color = false};

TEST(FleetViewsTest, WorkersOneLineEach) {
  const std::string out = RenderWorkers(Fleet(), kView);
  EXPECT_EQ(out, R"(WORKER                        STATE     GPUS  UTIL  CPU  MEM  SEEN  HEALTH
gpu-node-01                   healthy    1/2   57%  12%  40%    1s  1 degraded
gpu-node-02-with-a-long-name  draining   2/2   57%  12%  40%    1s  1 unhealthy
gpu-node-03                   dead       1/1     -    -    -   10m  -
)");
  ExpectFits(out, 80);
}

TEST(FleetViewsTest, WorkersWideShowsEachGpu) {
  ViewOptions wide = kView;
  wide.wide = true;
  EXPECT_EQ(RenderWorkers(Fleet(), wide), R"(WORKER                        STATE     GPUS  UTIL  CPU  MEM  SEEN  HEALTH       MODEL              PER-GPU
gpu-node-01                   healthy    1/2   57%  12%  40%    1s  1 degraded   2x H100 80GB HBM3  0:95% 1:18%!
gpu-node-02-with-a-long-name  draining   2/2   57%  12%  40%    1s  1 unhealthy  2x H100 80GB HBM3  0:0% 1:n/a!
gpu-node-03                   dead       1/1     -    -    -   10m  -            2x H100 80GB HBM3  0:-
)");
}

TEST(FleetViewsTest, GpusOneLineEachAcrossTheFleet) {
  const std::string out = RenderGpus(Fleet(), {}, kView);
  EXPECT_EQ(out, R"(WORKER         GPU  MODEL         UTIL  MEMORY  TEMP  POWER  HEALTH     TASK
gpu-node-01      0  H100 80GB H…   95%  32/80G   61C   312W  healthy    t-000014
gpu-node-01      1  H100 80GB H…   18%  32/80G   61C   312W  degraded   -
gpu-node-02-…    0  H100 80GB H…    0%  32/80G   61C   312W  healthy    -
gpu-node-02-…    1  H100 80GB H…   n/a  32/80G   61C   312W  unhealthy  -
gpu-node-03      0  H100 80GB H…     -       -     -      -  lost       -
)");
  ExpectFits(out, 80);
}

TEST(FleetViewsTest, GpuFiltersPickIdleAndUnhealthyOnes) {
  EXPECT_EQ(RenderGpus(Fleet(), {.worker = "", .idle = true, .unhealthy = false}, kView), R"(WORKER           GPU  MODEL           UTIL  MEMORY  TEMP  POWER  HEALTH     TASK
gpu-node-01        1  H100 80GB HBM3   18%  32/80G   61C   312W  degraded   -
gpu-node-02-wi…    0  H100 80GB HBM3    0%  32/80G   61C   312W  healthy    -
gpu-node-02-wi…    1  H100 80GB HBM3   n/a  32/80G   61C   312W  unhealthy  -
)");
  EXPECT_EQ(RenderGpus(Fleet(), {.worker = "", .idle = false, .unhealthy = true}, kView), R"(WORKER           GPU  MODEL           UTIL  MEMORY  TEMP  POWER  HEALTH     TASK
gpu-node-01        1  H100 80GB HBM3   18%  32/80G   61C   312W  degraded   -
gpu-node-02-wi…    1  H100 80GB HBM3   n/a  32/80G   61C   312W  unhealthy  -
)");
  EXPECT_EQ(RenderGpus(Fleet(), {.worker = "nobody", .idle = false, .unhealthy = false}, kView), "No GPUs match.\n");
}

TEST(FleetViewsTest, TasksOneLineEach) {
  const std::string out = RenderTasks(Tasks(), kView);
  EXPECT_EQ(out, R"(ID        NAME            STATE    AGE   TIME  GPUS  WORKER       REASON
t-000015  sh -c sleep 1…  queued   30s      -     8  -            no worker has…
t-000014  train           running   6m  4m12s     1  gpu-node-01
t-000010  eval            failed    2h  1h02m     2  gpu-node-01  exit 3
)");
  ExpectFits(out, 80);
}

TEST(FleetViewsTest, TasksWideShowIndicesAndAttempts) {
  ViewOptions wide = kView;
  wide.wide = true;
  EXPECT_EQ(RenderTasks(Tasks(), wide), R"(ID        NAME                                                        STATE    AGE   TIME  GPUS  ATTEMPTS  WORKER       REASON
t-000015  sh -c sleep 100 && echo done with a very long command line  queued   30s      -     8         0  -            no worker has 8 free GPUs (largest: 2)
t-000014  train                                                       running   6m  4m12s     0         1  gpu-node-01
t-000010  eval                                                        failed    2h  1h02m   0,1         1  gpu-node-01  exit 3
)");
}

TEST(FleetViewsTest, StatusShowsTimesTheQuotedCommandAndUsage) {
  json t = Tasks()[1];
  t["argv"] = {"python", "train.py", "--note", "it's fine"};
  t["usage"] = {{"gpu_seconds", 20.0}, {"gpu_seconds_used", 16.0}, {"mean_utilization_gpu", 80.0},
                {"peak_utilization_gpu", 93.0}};
  t["idle_since"] = nullptr;
  EXPECT_EQ(RenderTask(t, kView), R"(Task t-000014 (train)
  State:     running
  Command:   python train.py --note 'it'\''s fine'
  Submitted: 2027-01-15 07:53:20 UTC (6m ago)
  Started:   2027-01-15 07:55:48 UTC (4m ago)
  Finished:  -
  Run time:  4m12s
  Requested: 1 GPU(s), 0 CPU(s), 0 B memory
  Worker:    gpu-node-01
  GPUs:      0 (GPU-0)
  Attempts:  1 of 0
  Exit code: -
  Usage:     20.0 GPU-s (16.0 used), GPU 80 % mean / 93 % peak
)");
}

TEST(FleetViewsTest, ShellQuoteReadsBackAsTheSameWords) {
  EXPECT_EQ(ShellQuote(json{"echo", "a b", "it's", "x=1", ""}), R"(echo 'a b' 'it'\''s' x=1 '')");
}

TEST(FleetViewsTest, Durations) {
  EXPECT_EQ(ShortDuration(42), "42s");
  EXPECT_EQ(ShortDuration(300), "5m");
  EXPECT_EQ(ShortDuration(7200), "2h");
  EXPECT_EQ(ShortDuration(3 * 86400), "3d");
  EXPECT_EQ(RunDuration(252), "4m12s");
  EXPECT_EQ(RunDuration(3720), "1h02m");
}

}  // namespace
}  // namespace gpulse::cli
