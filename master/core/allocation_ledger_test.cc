// AllocationLedger: booking, releasing and rebuilding a worker's allocation.
#include "master/core/allocation_ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testkit/status_matchers.h"

namespace gpulse::master {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

Worker MakeWorker(size_t gpus, uint32_t cpus = 16, uint64_t memory = 64 * kGiB) {
  Worker w;
  w.id = "w1";
  w.capacity.cpu_cores = cpus;
  w.capacity.memory_bytes = memory;
  for (size_t i = 0; i < gpus; ++i) {
    WorkerGpu g;
    g.identity.index = static_cast<uint32_t>(i);
    g.identity.uuid = "GPU-" + std::to_string(i);
    w.gpus.push_back(g);
  }
  return w;
}

Task MakeTask(const std::string& id, uint32_t gpus, uint32_t cpus = 2, uint64_t memory = 4 * kGiB) {
  Task t;
  t.id = id;
  t.spec.argv = {"/bin/true"};
  t.spec.gpus = gpus;
  t.spec.cpus = cpus;
  t.spec.memory_bytes = memory;
  return t;
}

// What the scheduler records in the task once it is placed.
void RecordGpus(Task& t, const Worker& w, const std::vector<size_t>& positions) {
  for (size_t p : positions) {
    t.gpu_indices.push_back(w.gpus[p].identity.index);
    t.gpu_uuids.push_back(w.gpus[p].identity.uuid);
  }
}

std::vector<std::string> Holders(const Worker& w) {
  std::vector<std::string> out;
  for (const WorkerGpu& g : w.gpus) out.push_back(g.allocated_to);
  return out;
}

void ExpectSameAllocation(const Worker& a, const Worker& b) {
  EXPECT_EQ(a.cpus_allocated, b.cpus_allocated);
  EXPECT_EQ(a.memory_allocated, b.memory_allocated);
  EXPECT_EQ(a.task_ids, b.task_ids);
  EXPECT_EQ(Holders(a), Holders(b));
}

TEST(AllocationLedgerTest, AllocateBooksCpusMemoryAndTheGivenGpus) {
  Worker w = MakeWorker(4);
  Task t = MakeTask("t-1", 2, 3, 5 * kGiB);
  std::vector<size_t> positions{3, 1};
  ASSERT_OK(AllocationLedger(w).Allocate(t, positions));
  EXPECT_EQ(w.cpus_allocated, 3u);
  EXPECT_EQ(w.memory_allocated, 5 * kGiB);
  EXPECT_EQ(w.task_ids, std::vector<std::string>{"t-1"});
  EXPECT_EQ(Holders(w), (std::vector<std::string>{"", "t-1", "", "t-1"}));
  EXPECT_EQ(w.gpus_allocated(), 2u);
  EXPECT_TRUE(AllocationLedger(w).Holds("t-1"));
}

TEST(AllocationLedgerTest, ReleaseFreesEverythingAndASecondReleaseIsHarmless) {
  Worker w = MakeWorker(2);
  Task a = MakeTask("t-1", 1, 2, 4 * kGiB);
  Task b = MakeTask("t-2", 1, 3, 1 * kGiB);
  AllocationLedger ledger(w);
  std::vector<size_t> first{0}, second{1};
  ASSERT_OK(ledger.Allocate(a, first));
  ASSERT_OK(ledger.Allocate(b, second));

  EXPECT_TRUE(ledger.Release(a));
  EXPECT_FALSE(ledger.Release(a));  // again: nothing left to free
  EXPECT_FALSE(ledger.Release(MakeTask("t-9", 1)));  // never booked here
  // b's booking is untouched by the repeated release.
  EXPECT_EQ(w.cpus_allocated, 3u);
  EXPECT_EQ(w.memory_allocated, 1 * kGiB);
  EXPECT_EQ(w.task_ids, std::vector<std::string>{"t-2"});
  EXPECT_EQ(Holders(w), (std::vector<std::string>{"", "t-2"}));

  EXPECT_TRUE(ledger.Release(b));
  EXPECT_EQ(w.cpus_allocated, 0u);
  EXPECT_EQ(w.memory_allocated, 0u);
  EXPECT_TRUE(w.task_ids.empty());
  EXPECT_EQ(w.gpus_allocated(), 0u);
}

TEST(AllocationLedgerTest, AnAllocationThatDoesNotFitIsRefusedAndChangesNothing) {
  Worker w = MakeWorker(2, /*cpus=*/8, /*memory=*/16 * kGiB);
  AllocationLedger ledger(w);
  Task held = MakeTask("t-1", 1, 4, 8 * kGiB);
  std::vector<size_t> gpu0{0}, gpu1{1}, twice{1, 1}, out_of_range{2}, none{};
  ASSERT_OK(ledger.Allocate(held, gpu0));
  const Worker before = w;

  EXPECT_EQ(ledger.Allocate(MakeTask("t-2", 0, 5), none).code(), StatusCode::kResourceExhausted);  // CPUs
  EXPECT_EQ(ledger.Allocate(MakeTask("t-3", 0, 1, 9 * kGiB), none).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.Allocate(MakeTask("t-4", 1), gpu0).code(), StatusCode::kResourceExhausted);  // GPU held
  EXPECT_EQ(ledger.Allocate(MakeTask("t-5", 2), twice).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Allocate(MakeTask("t-6", 1), out_of_range).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Allocate(MakeTask("t-7", 2), gpu1).code(), StatusCode::kInvalidArgument);  // too few GPUs
  EXPECT_EQ(ledger.Allocate(held, gpu1).code(), StatusCode::kFailedPrecondition);              // booked already
  ExpectSameAllocation(w, before);

  // What is left fits exactly.
  ASSERT_OK(ledger.Allocate(MakeTask("t-8", 1, 4, 8 * kGiB), gpu1));
  EXPECT_EQ(w.cpus_allocated, 8u);
  EXPECT_EQ(w.memory_allocated, 16 * kGiB);
}

TEST(AllocationLedgerTest, RebuildFromTasksEqualsTheIncrementalState) {
  Worker incremental = MakeWorker(8, 64, 512 * kGiB);
  std::vector<Task> tasks{MakeTask("t-1", 2, 4, 8 * kGiB), MakeTask("t-2", 0, 6, 1 * kGiB),
                          MakeTask("t-3", 1, 1, 2 * kGiB), MakeTask("t-4", 3, 8, 32 * kGiB),
                          MakeTask("t-5", 1, 2, 4 * kGiB)};
  std::vector<std::vector<size_t>> positions{{5, 2}, {}, {0}, {7, 1, 3}, {6}};
  AllocationLedger ledger(incremental);
  for (size_t i = 0; i < tasks.size(); ++i) {
    ASSERT_OK(ledger.Allocate(tasks[i], positions[i]));
    RecordGpus(tasks[i], incremental, positions[i]);
  }
  // Churn: one task leaves, another comes.
  ASSERT_TRUE(ledger.Release(tasks[2]));
  tasks.erase(tasks.begin() + 2);
  Task late = MakeTask("t-6", 2, 3, 3 * kGiB);
  std::vector<size_t> late_positions{0, 4};
  ASSERT_OK(ledger.Allocate(late, late_positions));
  RecordGpus(late, incremental, late_positions);
  tasks.push_back(late);

  std::vector<const Task*> pointers;
  for (const Task& t : tasks) pointers.push_back(&t);

  // From a stale allocation (the worker re-registered) ...
  Worker rebuilt = incremental;
  rebuilt.cpus_allocated = 99;
  rebuilt.task_ids = {"t-gone"};
  rebuilt.gpus[4].allocated_to = "t-gone";
  AllocationLedger(rebuilt).Rebuild(pointers);
  ExpectSameAllocation(rebuilt, incremental);

  // ... and on a fresh worker adopting them one by one.
  Worker adopted = MakeWorker(8, 64, 512 * kGiB);
  for (const Task& t : tasks) AllocationLedger(adopted).Adopt(t);
  ExpectSameAllocation(adopted, incremental);
}

TEST(AllocationLedgerTest, AdoptFindsGpusByUuidThenIndexAndSkipsWhatIsGone) {
  Worker w = MakeWorker(3);
  Task by_uuid = MakeTask("t-1", 2);
  by_uuid.gpu_uuids = {"GPU-2", "GPU-gone"};  // the second GPU left the worker
  by_uuid.gpu_indices = {0, 1};               // stale indices: the UUIDs win
  Task by_index = MakeTask("t-2", 1);
  by_index.gpu_uuids = {""};
  by_index.gpu_indices = {1};
  Task conflicting = MakeTask("t-3", 1);
  conflicting.gpu_uuids = {"GPU-2"};  // already t-1's: not taken over
  AllocationLedger ledger(w);
  ledger.Adopt(by_uuid);
  ledger.Adopt(by_index);
  ledger.Adopt(conflicting);
  ledger.Adopt(by_uuid);  // twice: booked once
  EXPECT_EQ(Holders(w), (std::vector<std::string>{"", "t-2", "t-1"}));
  EXPECT_EQ(w.task_ids, (std::vector<std::string>{"t-1", "t-2", "t-3"}));
  EXPECT_EQ(w.cpus_allocated, 6u);
}

TEST(AllocationLedgerTest, AdoptBooksBeyondAShrunkCapacity) {
  Worker w = MakeWorker(0, /*cpus=*/2, /*memory=*/1 * kGiB);
  AllocationLedger(w).Adopt(MakeTask("t-1", 0, 4, 8 * kGiB));  // it runs there all the same
  EXPECT_EQ(w.cpus_allocated, 4u);
  EXPECT_EQ(w.memory_allocated, 8 * kGiB);
  std::vector<size_t> none;
  EXPECT_EQ(AllocationLedger(w).Allocate(MakeTask("t-2", 0, 1, 1), none).code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace gpulse::master
