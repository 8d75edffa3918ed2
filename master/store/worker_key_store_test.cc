// Both WorkerKeyStores: the first binding of an id holds until forgotten;
// the SQLite one keeps it across a reopen.
#include "master/store/worker_key_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "master/store/task_store.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

WorkerKeyBinding Binding(const std::string& id, const std::string& key) {
  return {id, key, WallTime(std::chrono::seconds(1'700'000'000))};
}

class WorkerKeyStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      path_ = dir_.File("gpulse.db");
      auto tasks = OpenSqliteTaskStore(path_);  // brings the schema
      ASSERT_OK(tasks.status());
      task_store_ = std::move(*tasks);
      auto keys = OpenSqliteWorkerKeyStore(path_);
      ASSERT_OK(keys.status());
      store_ = std::move(*keys);
    } else {
      store_ = NewMemoryWorkerKeyStore();
    }
  }

  testkit::TempDir dir_;
  std::string path_;
  std::unique_ptr<TaskStore> task_store_;
  std::unique_ptr<WorkerKeyStore> store_;
};

TEST_P(WorkerKeyStoreTest, FirstBindingHoldsUntilForgotten) {
  auto first = store_->BindIfUnbound(Binding("w1", "sha256:aa"));
  ASSERT_OK(first.status());
  EXPECT_EQ(first->key_fingerprint, "sha256:aa");
  auto second = store_->BindIfUnbound(Binding("w1", "sha256:bb"));
  ASSERT_OK(second.status());
  EXPECT_EQ(second->key_fingerprint, "sha256:aa");  // the earlier key keeps the id
  ASSERT_OK(store_->BindIfUnbound(Binding("w0", "sha256:cc")).status());

  auto all = store_->LoadAll();
  ASSERT_OK(all.status());
  EXPECT_EQ(*all, (std::vector<WorkerKeyBinding>{Binding("w0", "sha256:cc"), Binding("w1", "sha256:aa")}));

  auto forgot = store_->Forget("w1");
  ASSERT_OK(forgot.status());
  EXPECT_TRUE(*forgot);
  auto again = store_->Forget("w1");
  ASSERT_OK(again.status());
  EXPECT_FALSE(*again);
  auto rebound = store_->BindIfUnbound(Binding("w1", "sha256:bb"));
  ASSERT_OK(rebound.status());
  EXPECT_EQ(rebound->key_fingerprint, "sha256:bb");
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkerKeyStoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Sqlite" : "Memory"; });

TEST(SqliteWorkerKeyStoreTest, BindingSurvivesReopen) {
  testkit::TempDir dir;
  const std::string path = dir.File("gpulse.db");
  {
    auto tasks = OpenSqliteTaskStore(path);
    ASSERT_OK(tasks.status());
    auto keys = OpenSqliteWorkerKeyStore(path);
    ASSERT_OK(keys.status());
    ASSERT_OK((*keys)->BindIfUnbound(Binding("w1", "sha256:aa")).status());
  }
  auto tasks = OpenSqliteTaskStore(path);
  ASSERT_OK(tasks.status());
  auto keys = OpenSqliteWorkerKeyStore(path);
  ASSERT_OK(keys.status());
  auto all = (*keys)->LoadAll();
  ASSERT_OK(all.status());
  EXPECT_EQ(*all, std::vector<WorkerKeyBinding>{Binding("w1", "sha256:aa")});
}

TEST(SqliteWorkerKeyStoreTest, DatabaseWithoutTheSchemaIsRefused) {
  testkit::TempDir dir;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("empty.db").c_str(), &db), SQLITE_OK);
  sqlite3_close(db);
  auto keys = OpenSqliteWorkerKeyStore(dir.File("empty.db"));
  EXPECT_EQ(keys.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace gpulse::master
