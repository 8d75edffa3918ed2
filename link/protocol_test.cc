#include "link/protocol.h"

#include <gtest/gtest.h>

namespace gpulse::link {
namespace {

TEST(ProtocolTest, AMasterServesItsVersionAndTheOneBefore) {
  EXPECT_TRUE(CheckWorkerProtocol(5, 5).ok());
  EXPECT_TRUE(CheckWorkerProtocol(4, 5).ok());
}

TEST(ProtocolTest, OlderOrNewerWorkersAreToldWhatToUpgrade) {
  Status old = CheckWorkerProtocol(3, 5);
  EXPECT_EQ(old.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(old.message(), "this worker is too old for the master: upgrade the worker (worker protocol 3, master protocol 5)");
  Status newer = CheckWorkerProtocol(6, 5);
  EXPECT_EQ(newer.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(newer.message(),
            "this worker is newer than the master: upgrade the master first (worker protocol 6, master protocol 5)");
}

TEST(ProtocolTest, WorkersFromBeforeTheFieldSpeakVersionOne) {
  EXPECT_EQ(SpokenVersion(0), 1u);
  EXPECT_TRUE(CheckWorkerProtocol(0, 1).ok());
  EXPECT_TRUE(CheckWorkerProtocol(0, 2).ok());
  EXPECT_FALSE(CheckWorkerProtocol(0, 3).ok());
}

}  // namespace
}  // namespace gpulse::link
