#include "master/link/grpc_status.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

TEST(GrpcStatusTest, OkIsOk) { EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok()); }

TEST(GrpcStatusTest, EveryCodeMapsToItsGrpcCodeAndKeepsTheMessage) {
  const std::pair<Status, grpc::StatusCode> cases[] = {
      {InvalidArgument("m"), grpc::StatusCode::INVALID_ARGUMENT},
      {NotFound("m"), grpc::StatusCode::NOT_FOUND},
      {AlreadyExists("m"), grpc::StatusCode::ALREADY_EXISTS},
      {FailedPrecondition("m"), grpc::StatusCode::FAILED_PRECONDITION},
      {ResourceExhausted("m"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Unavailable("m"), grpc::StatusCode::UNAVAILABLE},
      {Unauthenticated("m"), grpc::StatusCode::UNAUTHENTICATED},
      {PermissionDenied("m"), grpc::StatusCode::PERMISSION_DENIED},
      {Internal("m"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [status, code] : cases) {
    grpc::Status mapped = ToGrpcStatus(status);
    EXPECT_EQ(mapped.error_code(), code) << status.ToString();
    EXPECT_EQ(mapped.error_message(), "m");
  }
}

// A master that has not recovered its state yet refuses registrations with
// Unavailable; the worker must see a retryable UNAVAILABLE, not the
// INVALID_ARGUMENT every refusal used to become.
TEST(GrpcStatusTest, NotRecoveredYetIsRetryable) {
  grpc::Status mapped = ToGrpcStatus(Unavailable("the master has not recovered its state yet; try again"));
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace gpulse::master
