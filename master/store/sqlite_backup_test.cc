#include "master/store/sqlite_backup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "master/store/sqlite_task_store.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

Task Queued(int n) {
  Task t;
  t.id = "t-" + std::to_string(n);
  t.spec.argv = {"/bin/echo", std::to_string(n)};
  t.state = TaskState::kQueued;
  return t;
}

Status WriteTasks(TaskStore& store, int from, int count) {
  TaskStoreBatch batch;
  for (int i = from; i < from + count; ++i) {
    batch.tasks.push_back(Queued(i));
    batch.events.push_back({"t-" + std::to_string(i), WallTime{}, "submitted"});
  }
  return store.Write(batch);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

class SqliteBackupTest : public ::testing::Test {
 protected:
  testkit::TempDir dir_{"gpulse-backup"};
  std::string data_dir_ = dir_.File("data");
  void SetUp() override { std::filesystem::create_directories(data_dir_); }
};

TEST_F(SqliteBackupTest, ABackupRestoredIntoANewDataDirHasEveryTaskAndEvent) {
  {
    auto store = SqliteTaskStore::Open(DatabasePath(data_dir_));
    ASSERT_OK(store);
    ASSERT_OK(WriteTasks(**store, 1, 50));
    // The store stays open, as in a running master: WAL holds recent writes.
    ASSERT_OK(BackupDatabase(DatabasePath(data_dir_), dir_.File("nightly.db")));
  }
  EXPECT_EQ(ModeOf(dir_.File("nightly.db")), 0600u);
  const std::string fresh = dir_.File("restored");
  ASSERT_OK(RestoreDatabase(dir_.File("nightly.db"), fresh));
  EXPECT_EQ(ModeOf(fresh), 0700u);
  EXPECT_EQ(ModeOf(DatabasePath(fresh)), 0600u);
  auto restored = SqliteTaskStore::Open(DatabasePath(fresh));
  ASSERT_OK(restored);
  auto tasks = (*restored)->LoadTasks();
  ASSERT_OK(tasks);
  ASSERT_EQ(tasks->size(), 50u);
  auto events = (*restored)->LoadEvents("t-17");
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].what, "submitted");
}

TEST_F(SqliteBackupTest, ABackupDuringWritesIsOneConsistentInstant) {
  auto store = SqliteTaskStore::Open(DatabasePath(data_dir_));
  ASSERT_OK(store);
  ASSERT_OK(WriteTasks(**store, 0, 10));
  std::atomic<bool> stop{false};
  std::atomic<int> written{10};
  // Batches of 10 tasks: a consistent copy holds a multiple of 10.
  std::thread writer([&] {
    while (!stop && written < 5000) {
      if (WriteTasks(**store, written, 10).ok()) written += 10;
    }
  });
  for (int i = 0; i < 5; ++i) {
    const std::string copy = dir_.File("copy" + std::to_string(i) + ".db");
    ASSERT_OK(BackupDatabase(DatabasePath(data_dir_), copy));
    auto opened = SqliteTaskStore::Open(copy);
    ASSERT_OK(opened);
    auto tasks = (*opened)->LoadTasks();
    ASSERT_OK(tasks);
    EXPECT_GE(tasks->size(), 10u);
    EXPECT_EQ(tasks->size() % 10, 0u) << "a batch was copied half-written";
  }
  stop = true;
  writer.join();
}

TEST_F(SqliteBackupTest, RefusalsSayWhy) {
  EXPECT_EQ(BackupDatabase(DatabasePath(data_dir_), dir_.File("x.db")).code(), StatusCode::kNotFound);
  {
    auto store = SqliteTaskStore::Open(DatabasePath(data_dir_));
    ASSERT_OK(store);
  }
  std::ofstream(dir_.File("exists.db")) << "keep me";
  EXPECT_EQ(BackupDatabase(DatabasePath(data_dir_), dir_.File("exists.db")).code(), StatusCode::kAlreadyExists);
  std::ifstream kept(dir_.File("exists.db"));
  std::string content;
  std::getline(kept, content);
  EXPECT_EQ(content, "keep me");

  ASSERT_OK(BackupDatabase(DatabasePath(data_dir_), dir_.File("ok.db")));
  // Never over a live data dir.
  EXPECT_EQ(RestoreDatabase(dir_.File("ok.db"), data_dir_).code(), StatusCode::kFailedPrecondition);
  std::ofstream(dir_.File("not-a-db")) << "hello";
  Status s = RestoreDatabase(dir_.File("not-a-db"), dir_.File("fresh"));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(DatabasePath(dir_.File("fresh"))));
}

}  // namespace
}  // namespace gpulse::master
