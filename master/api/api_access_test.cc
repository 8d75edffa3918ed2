// ApiAccess: which route needs which token, and what each token grants.
#include "master/api/api_access.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gpulse::master {
namespace {

const std::string kAdmin(64, 'a');
const std::string kRead(64, 'r');

HttpRequest Request(const std::string& method, const std::string& path, const std::string& token = "") {
  HttpRequest req;
  req.method = method;
  req.path = path;
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  return req;
}

// The status Allow answers with: 0 when it lets the request through.
int Answer(const ApiAccess& access, const HttpRequest& req) {
  HttpResponse res;
  return access.Allow(req, res) ? 0 : res.status;
}

TEST(ApiAccessTest, RoutesNeedWhatTheyDo) {
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/healthz"), ApiNeed::kNothing);
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/"), ApiNeed::kNothing);
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/app.js"), ApiNeed::kNothing);
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/metrics"), ApiNeed::kMetrics);
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/api/events"), ApiNeed::kRead);
  EXPECT_EQ(ApiAccess::NeedFor("HEAD", "/api/tasks"), ApiNeed::kRead);
  EXPECT_EQ(ApiAccess::NeedFor("POST", "/api/tasks"), ApiNeed::kAdmin);
  EXPECT_EQ(ApiAccess::NeedFor("POST", "/api/tasks/t-000001/cancel"), ApiNeed::kAdmin);
  EXPECT_EQ(ApiAccess::NeedFor("DELETE", "/api/workers/w1"), ApiNeed::kAdmin);
  EXPECT_EQ(ApiAccess::NeedFor("PUT", "/api/anything-new"), ApiNeed::kAdmin);
  EXPECT_EQ(ApiAccess::NeedFor("GET", "/api/join"), ApiNeed::kAdmin);  // the join line holds the token
}

TEST(ApiAccessTest, TheReadTokenReadsAndTheAdminTokenDoesEverything) {
  ApiAccess access({kAdmin, kRead});
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks")), 401);
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks", kRead)), 0);
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks", kAdmin)), 0);
  EXPECT_EQ(Answer(access, Request("GET", "/metrics")), 401);
  EXPECT_EQ(Answer(access, Request("GET", "/metrics", kRead)), 0);
  EXPECT_EQ(Answer(access, Request("POST", "/api/tasks")), 401);
  EXPECT_EQ(Answer(access, Request("POST", "/api/tasks", kRead)), 403);
  EXPECT_EQ(Answer(access, Request("POST", "/api/tasks", kAdmin)), 0);
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks", std::string(64, 'x'))), 401);
  EXPECT_EQ(Answer(access, Request("GET", "/healthz")), 0);
  EXPECT_EQ(Answer(access, Request("GET", "/")), 0);
}

TEST(ApiAccessTest, ErrorsAreJsonAndNeverEchoTheToken) {
  ApiAccess access({kAdmin, kRead});
  HttpResponse res;
  const std::string wrong(64, 'x');
  ASSERT_FALSE(access.Allow(Request("GET", "/api/tasks", wrong), res));
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << res.body;
  EXPECT_EQ(body.value("error", "").rfind("wrong token", 0), 0u);
  EXPECT_EQ(res.body.find(wrong), std::string::npos);
}

TEST(ApiAccessTest, WithoutAReadTokenOnlyTheAdminTokenReads) {
  ApiAccess access({kAdmin, ""});
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks", kAdmin)), 0);
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks", kRead)), 401);  // no read token configured
  EXPECT_EQ(Answer(access, Request("GET", "/api/tasks")), 401);
}

TEST(ApiAccessTest, PublicReadsAndPublicMetricsOpenOnlyWhatTheySay) {
  ApiAccess reads({kAdmin, kRead, /*public_reads=*/true, /*public_metrics=*/false});
  EXPECT_EQ(Answer(reads, Request("GET", "/api/tasks")), 0);
  EXPECT_EQ(Answer(reads, Request("GET", "/metrics")), 0);
  EXPECT_EQ(Answer(reads, Request("POST", "/api/tasks")), 401);
  EXPECT_EQ(Answer(reads, Request("POST", "/api/tasks", kRead)), 403);

  ApiAccess metrics({kAdmin, kRead, /*public_reads=*/false, /*public_metrics=*/true});
  EXPECT_EQ(Answer(metrics, Request("GET", "/metrics")), 0);
  EXPECT_EQ(Answer(metrics, Request("GET", "/api/tasks")), 401);
}

}  // namespace
}  // namespace gpulse::master
