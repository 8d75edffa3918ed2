#include "cli/master_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "cli/command_exit.h"
#include "cli/master_client.h"
#include "testkit/eventually.h"

namespace gpulse::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Expected {
  int http_status;
  StatusCode code;
  int exit_code;
};

// Every status the master's API answers with (master/api), and what a proxy
// in front of it or another server at that address may.
TEST(MasterErrorsTest, EachHttpStatusHasItsKindAndExitCode) {
  const Expected table[] = {
      {301, StatusCode::kInvalidArgument, kExitFailure},
      {400, StatusCode::kInvalidArgument, kExitFailure},
      {401, StatusCode::kUnauthenticated, kExitNotAllowed},
      {403, StatusCode::kPermissionDenied, kExitNotAllowed},
      {404, StatusCode::kNotFound, kExitFailure},
      {405, StatusCode::kFailedPrecondition, kExitFailure},
      {408, StatusCode::kUnavailable, kExitUnavailable},
      {409, StatusCode::kFailedPrecondition, kExitFailure},
      {413, StatusCode::kInvalidArgument, kExitFailure},
      {418, StatusCode::kInvalidArgument, kExitFailure},
      {422, StatusCode::kResourceExhausted, kExitFailure},
      {429, StatusCode::kUnavailable, kExitUnavailable},
      {500, StatusCode::kInternal, kExitInternal},
      {501, StatusCode::kFailedPrecondition, kExitFailure},
      {502, StatusCode::kUnavailable, kExitUnavailable},
      {503, StatusCode::kUnavailable, kExitUnavailable},
      {504, StatusCode::kUnavailable, kExitUnavailable},
      {507, StatusCode::kStorageFull, kExitFailure},
      {102, StatusCode::kInternal, kExitInternal},
  };
  for (const Expected& e : table) {
    SCOPED_TRACE("HTTP " + std::to_string(e.http_status));
    Status status = StatusFromHttp(e.http_status, "");
    EXPECT_EQ(status.code(), e.code) << status.ToString();
    EXPECT_EQ(ExitCodeFor(status), e.exit_code);
    // Without the API's words, the message names the HTTP status.
    EXPECT_THAT(status.message(), HasSubstr("(HTTP " + std::to_string(e.http_status) + ")"));
  }
}

TEST(MasterErrorsTest, NoHttpStatusMapsToSuccess) {
  for (int http_status = 0; http_status < 1000; ++http_status) {
    if (http_status >= 200 && http_status < 300) continue;
    ASSERT_FALSE(StatusFromHttp(http_status, "").ok()) << http_status;
    ASSERT_FALSE(StatusFromHttp(http_status, "some words").ok()) << http_status;
  }
}

TEST(MasterErrorsTest, ARefusedRequestShowsTheApisOwnWords) {
  Status status = StatusFromHttp(404, "no task 't-9'");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "no task 't-9'");
  EXPECT_EQ(StatusFromHttp(409, "task t-1 has already finished").message(), "task t-1 has already finished");
}

TEST(MasterErrorsTest, UnavailableSaysToTryAgainAndKeepsTheApisWords) {
  Status status = StatusFromHttp(503, "the task store is busy");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("the task store is busy"));
  EXPECT_THAT(status.message(), HasSubstr("HTTP 503"));
  EXPECT_THAT(status.message(), HasSubstr("try again"));
  EXPECT_THAT(status.message(), Not(HasSubstr("internal")));
}

TEST(MasterErrorsTest, InternalErrorsPointAtTheMastersLog) {
  Status status = StatusFromHttp(500, "internal error: boom");
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("internal error: boom"));
  EXPECT_THAT(status.message(), HasSubstr("log"));
}

TEST(MasterErrorsTest, EveryStatusCodeHasAnExitCode) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), kExitOk);
  EXPECT_EQ(ExitCodeFor(InvalidArgument("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(NotFound("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(AlreadyExists("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(FailedPrecondition("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(ResourceExhausted("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(Unavailable("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Unauthenticated("x")), kExitNotAllowed);
  EXPECT_EQ(ExitCodeFor(PermissionDenied("x")), kExitNotAllowed);
  EXPECT_EQ(ExitCodeFor(Internal("x")), kExitInternal);
}

// The client really uses the mapping: a 503 from the master is
// "unavailable" (it once reached the user as "internal").
TEST(MasterErrorsTest, MasterClientReportsA503AsUnavailable) {
  httplib::Server fake_master;
  fake_master.Get("/api/workers", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error": "recovering state from the database"})", "application/json");
  });
  const int port = fake_master.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { fake_master.listen_after_bind(); });
  ASSERT_TRUE(testkit::Eventually([&] { return fake_master.is_running(); }));

  Result<nlohmann::json> workers = Internal("not asked yet");
  {
    MasterEndpoint endpoint;
    endpoint.url = "http://127.0.0.1:" + std::to_string(port);
    endpoint.insecure = true;
    Result<std::unique_ptr<MasterClient>> client = MasterClient::Connect(endpoint);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    workers = (*client)->Get("/api/workers");
  }  // the client closes its keep-alive connection, so the server stops at once
  fake_master.stop();
  serving.join();

  EXPECT_EQ(workers.status().code(), StatusCode::kUnavailable) << workers.status().ToString();
  EXPECT_THAT(workers.status().message(), HasSubstr("recovering state from the database"));
  EXPECT_EQ(ExitCodeFor(workers.status()), kExitUnavailable);
}

TEST(MasterErrorsTest, APlaintextUrlNeedsInsecure) {
  MasterEndpoint endpoint;
  endpoint.url = "http://127.0.0.1:8080";
  Result<std::unique_ptr<MasterClient>> refused = MasterClient::Connect(endpoint);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("--insecure"));
  endpoint.insecure = true;
  EXPECT_TRUE(MasterClient::Connect(endpoint).ok());
  endpoint.url = "https://127.0.0.1:8080";
  endpoint.insecure = false;
  EXPECT_TRUE(MasterClient::Connect(endpoint).ok());
}

}  // namespace
}  // namespace gpulse::cli
