// Issue 9, "each worker has its own identity", end to end with the real
// binaries on loopback: a worker's first join gets it a client certificate
// for a key it made itself (files 0600), a restart reconnects with mutual
// TLS and the kept certificate; a second machine with the token but not
// the worker's key cannot take its id (refused on both sides, the real
// worker keeps its task); `gpulse workers forget` (admin only) lets a new
// key join under the id.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testkit::ReadFileOrEmpty;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class WorkerIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master")));
  }

  std::unique_ptr<WorkerProcess> StartWorker(const std::string& id, const std::string& dir) {
    std::filesystem::create_directories(dir);
    return std::make_unique<WorkerProcess>(*master_, id, SimScenario(id, {10.0}), dir);
  }

  json Worker(const std::string& id) {
    return HttpGet(master_->http_port(), "/api/workers/" + id, master_->read_token()).json();
  }
  json Task(const std::string& id) {
    return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json();
  }

  // Healthy with a heartbeat on a stream registered after `log` said
  // `registered_line` (the stream of this process, not an earlier one).
  bool WaitRegistered(WorkerProcess& worker, const std::string& registered_line) {
    return Eventually(
        [&] {
          if (worker.process().Log().find(registered_line) == std::string::npos) return false;
          json w = Worker(worker.id());
          return w.is_object() && w.value("state", "") == "healthy";
        },
        seconds(20));
  }

  // `gpulse workers forget ID` with the token in `token_file`.
  CommandResult Forget(const std::string& id, const std::string& token_file) {
    auto env = master_->cli_env();
    env["GPULSE_TOKEN_FILE"] = token_file;
    return RunCommand({BinPath("gpulse"), "workers", "forget", id}, env);
  }

  std::string MasterLog() { return master_->process().Log(); }

  testkit::TempDir dir_;
  std::unique_ptr<MasterProcess> master_;
};

TEST_F(WorkerIdentityTest, FirstJoinGetsACertificateAndARestartKeepsIt) {
  auto worker = StartWorker("w1", dir_.File("a"));
  ASSERT_TRUE(WaitRegistered(*worker, "(mutual TLS, certificate issued at this start)"))
      << worker->process().Log() << MasterLog();
  const std::string key = worker->work_dir() + "/identity/worker.key";
  const std::string cert = worker->work_dir() + "/identity/worker.crt";
  EXPECT_EQ(ModeOf(key), 0600u);
  EXPECT_EQ(ModeOf(cert), 0600u);
  EXPECT_EQ(ModeOf(worker->work_dir() + "/identity"), 0700u);
  const std::string issued = ReadFileOrEmpty(cert);
  EXPECT_NE(issued.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(Count(MasterLog(), "issued a client certificate for worker w1"), 1u) << MasterLog();

  worker.reset();  // SIGKILL; the same work dir again is the same worker restarted
  worker = StartWorker("w1", dir_.File("a"));
  ASSERT_TRUE(WaitRegistered(*worker, "(mutual TLS, kept certificate)")) << worker->process().Log() << MasterLog();
  EXPECT_EQ(ReadFileOrEmpty(cert), issued);
  EXPECT_EQ(Count(MasterLog(), "issued a client certificate for worker w1"), 1u) << MasterLog();
}

TEST_F(WorkerIdentityTest, ImpostorWithTheTokenButNotTheKeyCannotTakeTheId) {
  auto real = StartWorker("w1", dir_.File("real"));
  ASSERT_TRUE(WaitRegistered(*real, "(mutual TLS, certificate issued at this start)")) << real->process().Log();
  HttpReply submitted = HttpPost(master_->http_port(), "/api/tasks",
                                 json{{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}}.dump(), master_->token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string task = submitted.json().value("id", "");
  ASSERT_TRUE(Eventually([&] { return Task(task).value("state", "") == "running"; }, seconds(20))) << Task(task);

  // Another machine (its own work dir, so its own key) with the token asks for w1's certificate.
  auto impostor = StartWorker("w1", dir_.File("impostor"));
  std::optional<int> exit_code = impostor->process().WaitExit(seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << impostor->process().Log();
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(impostor->process().Log().find("is bound to another key"), std::string::npos) << impostor->process().Log();
  EXPECT_NE(impostor->process().Log().find("gpulse workers forget w1"), std::string::npos);
  EXPECT_NE(MasterLog().find("refused a certificate for worker w1"), std::string::npos) << MasterLog();
  EXPECT_FALSE(std::filesystem::exists(impostor->work_dir() + "/identity/worker.crt"));

  // A certificate of its own (for id w2) does not make it w1 either: the
  // master checks the id against the certificate the handshake presented.
  auto other = StartWorker("w2", dir_.File("impostor"));
  ASSERT_TRUE(WaitRegistered(*other, "(mutual TLS, certificate issued at this start)")) << other->process().Log();
  other.reset();
  const std::string stolen_dir = dir_.File("impostor") + "/w1-work/identity";
  std::filesystem::create_directories(stolen_dir);
  ::chmod(stolen_dir.c_str(), 0700);
  for (const char* file : {"worker.key", "worker.crt"}) {
    std::filesystem::copy_file(dir_.File("impostor") + "/w2-work/identity/" + file, stolen_dir + "/" + file,
                               std::filesystem::copy_options::overwrite_existing);
  }
  impostor = StartWorker("w1", dir_.File("impostor"));
  exit_code = impostor->process().WaitExit(seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << impostor->process().Log();
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(impostor->process().Log().find("this stream's certificate is worker 'w2''s, not 'w1''s"),
            std::string::npos)
      << impostor->process().Log();
  EXPECT_NE(MasterLog().find("refused worker registration"), std::string::npos) << MasterLog();

  // The real worker kept its id and its task: same attempt, still running there.
  json t = Task(task);
  EXPECT_EQ(t.value("state", ""), "running") << t;
  EXPECT_EQ(t.value("worker", ""), "w1") << t;
  EXPECT_EQ(t.value("attempts", 0), 1) << t;
  EXPECT_EQ(Worker("w1").value("state", ""), "healthy");
  EXPECT_TRUE(real->process().Running());
}

TEST_F(WorkerIdentityTest, ForgetLetsANewKeyJoinAndNeedsTheAdminToken) {
  {
    auto old_home = StartWorker("w1", dir_.File("old"));
    ASSERT_TRUE(WaitRegistered(*old_home, "(mutual TLS, certificate issued at this start)"))
        << old_home->process().Log();
  }
  CommandResult refused = Forget("w1", master_->read_token_file());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE((refused.out + refused.err).find("admin token"), std::string::npos) << refused.out << refused.err;

  CommandResult forgot = Forget("w1", master_->token_file());
  ASSERT_EQ(forgot.exit_code, 0) << forgot.out << forgot.err;
  EXPECT_NE(forgot.out.find("w1 forgotten"), std::string::npos) << forgot.out;
  EXPECT_NE(Forget("w1", master_->token_file()).exit_code, 0);  // nothing left to forget

  auto new_home = StartWorker("w1", dir_.File("new"));
  ASSERT_TRUE(WaitRegistered(*new_home, "(mutual TLS, certificate issued at this start)"))
      << new_home->process().Log() << MasterLog();
  EXPECT_NE(MasterLog().find("worker id w1 was released from its key"), std::string::npos);
}

}  // namespace
}  // namespace gpulse::integration
