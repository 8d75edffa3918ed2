#include "master/store/log_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // A new LogStore on the same folder, as after a master restart.
  void Reopen() {
    store_.reset();
    auto opened = LogStore::Open(dir_.File("logs"));
    ASSERT_OK(opened);
    store_ = std::move(*opened);
  }

  // The whole stored stream, read in small pieces as clients page through it.
  std::string ReadAll(const std::string& task, uint32_t attempt, LogStream stream = LogStream::kStdout) {
    std::string all;
    uint64_t offset = 0;
    while (true) {
      auto slice = store_->Read(task, attempt, stream, offset, 7);
      EXPECT_OK(slice);
      if (!slice.ok() || slice->data.empty()) return all;
      all += slice->data;
      offset = slice->next_offset;
    }
  }

  testkit::TempDir dir_{"gpulse-log-store"};
  std::unique_ptr<LogStore> store_;
};

TEST_F(LogStoreTest, InOrderChunksAreStoredOneAfterTheOther) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "hello "));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 6, "world\n"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStderr, 0, "oops\n"));
  EXPECT_EQ(ReadAll("t1", 1), "hello world\n");
  EXPECT_EQ(ReadAll("t1", 1, LogStream::kStderr), "oops\n");
  EXPECT_TRUE(std::filesystem::exists(dir_.File("logs") + "/t1/1.stdout"));
  EXPECT_TRUE(std::filesystem::exists(dir_.File("logs") + "/t1/1.stderr"));
}

TEST_F(LogStoreTest, ReadPagesByStoredOffset) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "0123456789"));
  auto first = store_->Read("t1", 1, LogStream::kStdout, 0, 4);
  ASSERT_OK(first);
  EXPECT_EQ(first->data, "0123");
  EXPECT_EQ(first->next_offset, 4u);
  auto rest = store_->Read("t1", 1, LogStream::kStdout, first->next_offset, 100);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->data, "456789");
  EXPECT_EQ(rest->next_offset, 10u);
  auto past_end = store_->Read("t1", 1, LogStream::kStdout, 10, 100);
  ASSERT_OK(past_end);
  EXPECT_EQ(past_end->data, "");
  EXPECT_EQ(past_end->next_offset, 10u);
}

TEST_F(LogStoreTest, RepeatedChunksAreStoredOnce) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "abc"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "abc"));  // re-sent after a reconnect
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 1, "bcdef"));  // overlaps: only "def" is new
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 3, "def"));
  EXPECT_EQ(ReadAll("t1", 1), "abcdef");
}

TEST_F(LogStoreTest, AGapIsNotedAndTheNextInOrderChunkIsStillStored) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "start\n"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 10, "after gap\n"));  // bytes 6..9 never came
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 20, "next\n"));       // in order after the gap
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 10, "after gap\n"));  // a repeat is still skipped
  EXPECT_EQ(ReadAll("t1", 1), "start\n\n[gpulse: 4 bytes of output were lost here]\nafter gap\nnext\n");
}

TEST_F(LogStoreTest, AGapWithMoreLostBytesThanTheNoteStillLinesUp) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 1000, "late\n"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 1002, "te\nmore\n"));  // overlaps the chunk before
  EXPECT_EQ(ReadAll("t1", 1), "\n[gpulse: 1000 bytes of output were lost here]\nlate\nmore\n");
}

TEST_F(LogStoreTest, StreamOffsetsAfterAGapSurviveARestart) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "a\n"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 5, "b\n"));
  Reopen();
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 5, "b\n"));  // repeated after the restart
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 7, "c\n"));
  EXPECT_EQ(ReadAll("t1", 1), "a\n\n[gpulse: 3 bytes of output were lost here]\nb\nc\n");
}

// Where a worker whose chunk was refused resumes: past every stored byte,
// and past the stream bytes a gap's note stands for.
TEST_F(LogStoreTest, NextStreamOffsetIsWhereTheNextChunkMustStart) {
  EXPECT_EQ(store_->NextStreamOffset("t1", 1, LogStream::kStdout).value(), 0u);
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "abc"));
  EXPECT_EQ(store_->NextStreamOffset("t1", 1, LogStream::kStdout).value(), 3u);
  EXPECT_EQ(store_->NextStreamOffset("t1", 1, LogStream::kStderr).value(), 0u);
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 10, "xy"));  // a gap: 7 bytes lost, a longer note
  EXPECT_EQ(store_->NextStreamOffset("t1", 1, LogStream::kStdout).value(), 12u);
  Reopen();
  EXPECT_EQ(store_->NextStreamOffset("t1", 1, LogStream::kStdout).value(), 12u);
  EXPECT_EQ(store_->NextStreamOffset("../x", 1, LogStream::kStdout).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LogStoreTest, AttemptsAreKeptApart) {
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 0, "first attempt\n"));
  ASSERT_OK(store_->Append("t1", 2, LogStream::kStdout, 0, "second\n"));
  ASSERT_OK(store_->Append("t1", 2, LogStream::kStdout, 7, "and more\n"));
  ASSERT_OK(store_->Append("t1", 1, LogStream::kStdout, 14, "late bytes of the first\n"));
  EXPECT_EQ(ReadAll("t1", 1), "first attempt\nlate bytes of the first\n");
  EXPECT_EQ(ReadAll("t1", 2), "second\nand more\n");
  EXPECT_EQ(ReadAll("t1", 3), "");
  EXPECT_EQ(ReadAll("t2", 1), "");
}

TEST_F(LogStoreTest, ChunksWithoutAnAttemptBelongToTheFirst) {
  ASSERT_OK(store_->Append("t1", 0, LogStream::kStdout, 0, "from an older worker\n"));
  EXPECT_EQ(ReadAll("t1", 1), "from an older worker\n");
  EXPECT_EQ(store_->Read("t1", 0, LogStream::kStdout, 0, 100).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LogStoreTest, LogsFromBeforeAttemptsReadAsTheFirstAttempt) {
  ASSERT_TRUE(testkit::WriteFile(dir_.File("logs") + "/old.stdout", "kept from before\n"));
  EXPECT_EQ(ReadAll("old", 1), "kept from before\n");
  ASSERT_OK(store_->Append("old", 1, LogStream::kStdout, 17, "and continued\n"));
  EXPECT_EQ(ReadAll("old", 1), "kept from before\nand continued\n");
  EXPECT_EQ(ReadAll("old", 2), "");
}

TEST_F(LogStoreTest, TaskIdsThatCouldLeaveTheFolderAreRefused) {
  for (const std::string& bad : std::vector<std::string>{"", "..", "../escape", "a/b", "a b", std::string(129, 'x')}) {
    EXPECT_EQ(store_->Append(bad, 1, LogStream::kStdout, 0, "x").code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Read(bad, 1, LogStream::kStdout, 0, 10).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "escape"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.File("logs")));
  ASSERT_OK(store_->Append(std::string(128, 'x'), 1, LogStream::kStdout, 0, "longest id\n"));
  ASSERT_OK(store_->Append("Task_id-9", 1, LogStream::kStdout, 0, "letters, digits, - and _\n"));
}


// The cap is on stored bytes per stream of an attempt: exactly `cap` bytes
// of output are kept, then one marker line with the exact count dropped.
TEST(LogStoreCapTest, OutputPastTheCapIsDroppedWithOneMarkerCountingExactBytes) {
  testkit::TempDir dir("gpulse-log-cap");
  auto store = LogStore::Open(dir.File("logs"), /*max_stream_bytes=*/10);
  ASSERT_OK(store);
  ASSERT_OK((*store)->Append("t", 1, LogStream::kStdout, 0, "0123456789AB"));
  auto read = [&] { return (*store)->Read("t", 1, LogStream::kStdout, 0, 1 << 20)->data; };
  EXPECT_EQ(read(), "0123456789\n[gpulse: 2 bytes of output dropped: over the output cap]\n");
  // More output only raises the count; the marker stays one line.
  ASSERT_OK((*store)->Append("t", 1, LogStream::kStdout, 12, "CDE"));
  EXPECT_EQ(read(), "0123456789\n[gpulse: 5 bytes of output dropped: over the output cap]\n");
  // A repeat after a reconnect is recognised, also across a restart.
  ASSERT_OK((*store)->Append("t", 1, LogStream::kStdout, 12, "CDE"));
  store->reset();
  store = LogStore::Open(dir.File("logs"), 10);
  ASSERT_OK(store);
  ASSERT_OK((*store)->Append("t", 1, LogStream::kStdout, 0, "0123456789ABCDE"));
  EXPECT_EQ(read(), "0123456789\n[gpulse: 5 bytes of output dropped: over the output cap]\n");
  // Exactly the cap is kept whole, without a marker; the other stream is
  // capped on its own.
  ASSERT_OK((*store)->Append("t", 1, LogStream::kStderr, 0, "0123456789"));
  EXPECT_EQ((*store)->Read("t", 1, LogStream::kStderr, 0, 1 << 20)->data, "0123456789");
}

TEST(LogStoreCapTest, BytesTheWorkerDroppedAreCountedAndMarked) {
  testkit::TempDir dir("gpulse-log-cap");
  auto store = LogStore::Open(dir.File("logs"), /*max_stream_bytes=*/0);
  ASSERT_OK(store);
  ASSERT_OK((*store)->Append("t", 2, LogStream::kStderr, 0, "abc"));
  ASSERT_OK((*store)->Append("t", 2, LogStream::kStderr, 3, "", /*dropped_after=*/1000));
  ASSERT_OK((*store)->Append("t", 2, LogStream::kStderr, 3, "", 1000));  // re-sent
  EXPECT_EQ((*store)->Read("t", 2, LogStream::kStderr, 0, 1 << 20)->data,
            "abc\n[gpulse: 1000 bytes of output dropped: over the output cap]\n");
}

}  // namespace
}  // namespace gpulse::master
