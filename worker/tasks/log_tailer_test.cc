#include "worker/tasks/log_tailer.h"

#include <gtest/gtest.h>

#include "testkit/eventually.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using testkit::TempDir;
using testkit::WriteFile;

class LogTailerTest : public ::testing::Test {
 protected:
  std::filesystem::path Out() const { return dir_.path() / "stdout.log"; }
  std::filesystem::path Err() const { return dir_.path() / "stderr.log"; }

  TempDir dir_;
  LogTailer tailer_{Out(), Err(), /*attempt=*/1};
};

TEST_F(LogTailerTest, MissingFilesReadAsNothingNew) {
  Result<OutputChunk> chunk = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  EXPECT_EQ(chunk->offset, 0u);
  EXPECT_TRUE(chunk->data.empty());
  Result<std::vector<OutputChunk>> both = tailer_.ReadNewOutput();
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->empty());
}

TEST_F(LogTailerTest, ReturnsBytesInOrderInBoundedChunks) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += std::to_string(i) + ",";
  WriteFile(Out(), data);

  std::string reassembled;
  uint64_t expected_offset = 0;
  while (true) {
    Result<OutputChunk> chunk = tailer_.ReadNew(OutputStream::kStdout, 100);
    ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
    EXPECT_EQ(chunk->stream, OutputStream::kStdout);
    EXPECT_EQ(chunk->offset, expected_offset);
    EXPECT_LE(chunk->data.size(), 100u);
    if (chunk->data.empty()) break;
    expected_offset += chunk->data.size();
    reassembled += chunk->data;
  }
  EXPECT_EQ(reassembled, data);
  EXPECT_EQ(tailer_.offset(OutputStream::kStdout), data.size());
}

TEST_F(LogTailerTest, ResumesFromOffsetWhenFileGrows) {
  WriteFile(Out(), "first\n");
  Result<OutputChunk> first = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->data, "first\n");

  WriteFile(Out(), "second\n", std::ios::app);
  Result<OutputChunk> second = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->offset, 6u);
  EXPECT_EQ(second->data, "second\n");
}

TEST_F(LogTailerTest, FileCreatedAfterFirstReadIsPickedUp) {
  ASSERT_TRUE(tailer_.ReadNew(OutputStream::kStderr).ok());
  WriteFile(Err(), "late\n");
  Result<OutputChunk> chunk = tailer_.ReadNew(OutputStream::kStderr);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->data, "late\n");
}

TEST_F(LogTailerTest, StreamsKeepSeparateOffsets) {
  WriteFile(Out(), "out-bytes");
  WriteFile(Err(), "err");
  Result<std::vector<OutputChunk>> chunks = tailer_.ReadNewOutput(4);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].stream, OutputStream::kStdout);
  EXPECT_EQ((*chunks)[0].data, "out-");
  EXPECT_EQ((*chunks)[1].stream, OutputStream::kStderr);
  EXPECT_EQ((*chunks)[1].data, "err");

  chunks = tailer_.ReadNewOutput(4);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 1u);
  EXPECT_EQ((*chunks)[0].offset, 4u);
  EXPECT_EQ((*chunks)[0].data, "byte");
}

TEST_F(LogTailerTest, ShrunkFileIsAnErrorNotARewind) {
  WriteFile(Out(), "0123456789");
  ASSERT_TRUE(tailer_.ReadNew(OutputStream::kStdout).ok());
  WriteFile(Out(), "abc");  // truncated, as a new attempt would
  Result<OutputChunk> chunk = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_FALSE(chunk.ok());
  EXPECT_EQ(chunk.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(tailer_.offset(OutputStream::kStdout), 10u);
}

// What the master did not store is read again from where its copy ends;
// a rewind never skips forward.
TEST_F(LogTailerTest, RewindReadsAgainFromAnEarlierOffsetOnly) {
  WriteFile(Out(), "0123456789");
  ASSERT_EQ(tailer_.ReadNew(OutputStream::kStdout)->data, "0123456789");
  tailer_.Rewind(OutputStream::kStdout, 4);
  Result<OutputChunk> again = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offset, 4u);
  EXPECT_EQ(again->data, "456789");
  tailer_.Rewind(OutputStream::kStdout, 20);  // past what was read: ignored
  EXPECT_EQ(tailer_.offset(OutputStream::kStdout), 10u);
  EXPECT_EQ(tailer_.offset(OutputStream::kStderr), 0u);
}

TEST_F(LogTailerTest, FailedReadOfOneStreamLosesNothingFromTheOther) {
  WriteFile(Out(), "keep me");
  WriteFile(Err(), "0123456789");
  ASSERT_TRUE(tailer_.ReadNew(OutputStream::kStderr).ok());
  WriteFile(Err(), "x");  // shrinks stderr

  ASSERT_FALSE(tailer_.ReadNewOutput().ok());
  EXPECT_EQ(tailer_.offset(OutputStream::kStdout), 0u);
  Result<OutputChunk> out = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->data, "keep me");
}

TEST_F(LogTailerTest, BinaryDataIsPassedThroughUnchanged) {
  const std::string data("a\0b\xff\n", 5);
  WriteFile(Out(), data);
  Result<OutputChunk> chunk = tailer_.ReadNew(OutputStream::kStdout);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->data, data);
}


// A capped stream returns exactly `cap` bytes, then — once the task ended —
// one empty chunk at the cap counting exactly the bytes past it.
TEST_F(LogTailerTest, ACappedStreamStopsAtTheCapAndCountsTheRestAtTheEnd) {
  LogTailer capped(Out(), Err(), /*attempt=*/1, /*max_stream_bytes=*/10);
  WriteFile(Out(), "0123456789ABCDEF");
  WriteFile(Err(), "0123456789");
  std::string out;
  for (int i = 0; i < 5; ++i) {
    auto chunks = capped.ReadNewOutput(4);
    ASSERT_TRUE(chunks.ok());
    for (const OutputChunk& c : *chunks) {
      EXPECT_EQ(c.dropped_bytes, 0u);
      if (c.stream == OutputStream::kStdout) out += c.data;
    }
  }
  EXPECT_EQ(out, "0123456789");
  EXPECT_EQ(capped.offset(OutputStream::kStdout), 10u);
  EXPECT_EQ(capped.offset(OutputStream::kStderr), 10u);

  auto end = capped.ReadNewOutput(4, /*task_ended=*/true);
  ASSERT_TRUE(end.ok());
  ASSERT_EQ(end->size(), 1u);  // stderr is exactly at its cap: nothing dropped
  EXPECT_EQ((*end)[0].stream, OutputStream::kStdout);
  EXPECT_EQ((*end)[0].offset, 10u);
  EXPECT_TRUE((*end)[0].data.empty());
  EXPECT_EQ((*end)[0].dropped_bytes, 6u);
  // Said once.
  auto again = capped.ReadNewOutput(4, true);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

}  // namespace
}  // namespace gpulse::worker
