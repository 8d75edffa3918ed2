// WorkerAgent against a fake master: a WorkerLink service on a loopback
// port of its own that records what the agent sends and ends streams when
// told to, so registration, heartbeats, reconnection and a refused token
// are checked without a real master.
#include "worker/worker_agent.h"
#include "worker/tasks/task_runner.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <sstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "proto/gpulse.grpc.pb.h"
#include "common/clock.h"
#include "telemetry/sampler.h"
#include "testkit/eventually.h"
#include "testkit/sim_fixture.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testkit::Eventually;

// A master that registers every stream, acks heartbeats, and ends the
// current stream after `beats_per_stream` heartbeats (0: never), or refuses
// every stream with UNAUTHENTICATED. Given an assignment it sends it after
// each registration; it acknowledges task updates and keeps the stdout of
// the task by offset as the real LogStore does, refusing chunks (as the
// real master does on a full disk) while told to and past its stored end.
class FakeMaster final : public gpulse::v1::WorkerLink::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<MasterMessage, WorkerMessage>* stream) override {
    {
      std::lock_guard lock(mu_);
      auto it = context->client_metadata().find("authorization");
      tokens_.emplace_back(it == context->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size()));
      if (refuse_) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong cluster token: test");
    }
    WorkerMessage in;
    int beats = 0;
    while (stream->Read(&in)) {
      MasterMessage out;
      std::lock_guard lock(mu_);
      if (in.has_register_()) {
        registrations_.push_back(in.register_());
        out.mutable_registered()->set_heartbeat_interval_ms(in.register_().heartbeat_interval_ms());
        if (assign_) {
          stream->Write(out);
          out.Clear();
          *out.mutable_assign() = *assign_;
        }
      } else if (in.has_task_update()) {
        updates_.push_back(in.task_update());
        out.mutable_task_update_ack()->set_event_seq(in.task_update().event_seq());
      } else if (in.has_log()) {
        const gpulse::v1::LogChunk& chunk = in.log();
        if (chunk.stream() != gpulse::v1::LogChunk::STDOUT) continue;
        ++chunks_;
        if (refuse_output_ || chunk.offset() > stdout_.size()) {
          ++refusals_;
          auto* refused = out.mutable_output_refused();
          refused->set_task_id(chunk.task_id());
          refused->set_attempt(chunk.attempt());
          refused->set_offset(stdout_.size());
          refused->set_reason("the fake master's disk is full");
        } else {
          if (chunk.offset() + chunk.data().size() > stdout_.size()) stdout_ += chunk.data().substr(stdout_.size() - chunk.offset());
          continue;
        }
      } else if (in.has_heartbeat()) {
        seqs_.push_back(in.heartbeat().seq());
        out.mutable_ack()->set_seq(in.heartbeat().seq());
        ++beats;
      } else {
        continue;
      }
      stream->Write(out);
      if (beats_per_stream_ > 0 && beats >= beats_per_stream_) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the fake master ends this stream");
      }
    }
    return grpc::Status::OK;
  }

  std::vector<gpulse::v1::Register> registrations() {
    std::lock_guard lock(mu_);
    return registrations_;
  }
  std::vector<uint64_t> seqs() {
    std::lock_guard lock(mu_);
    return seqs_;
  }
  std::vector<std::string> tokens() {
    std::lock_guard lock(mu_);
    return tokens_;
  }
  void set_beats_per_stream(int n) {
    std::lock_guard lock(mu_);
    beats_per_stream_ = n;
  }
  void set_refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }
  void set_assign(gpulse::v1::Assign assign) {
    std::lock_guard lock(mu_);
    assign_ = std::move(assign);
  }
  void set_refuse_output(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_output_ = refuse;
  }
  std::string stored_stdout() {
    std::lock_guard lock(mu_);
    return stdout_;
  }
  int refusals() {
    std::lock_guard lock(mu_);
    return refusals_;
  }
  int chunks() {
    std::lock_guard lock(mu_);
    return chunks_;
  }
  bool task_exited() {
    std::lock_guard lock(mu_);
    for (const auto& u : updates_) {
      if (u.kind() == gpulse::v1::TaskUpdate::EXITED) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<gpulse::v1::Register> registrations_;
  std::vector<uint64_t> seqs_;
  std::vector<std::string> tokens_;
  int beats_per_stream_ = 0;
  bool refuse_ = false;
  std::optional<gpulse::v1::Assign> assign_;
  std::vector<gpulse::v1::TaskUpdate> updates_;
  bool refuse_output_ = false;
  std::string stdout_;
  int refusals_ = 0;
  int chunks_ = 0;
};

// Forwards the task runner's events to the agent made after it.
class ForwardingSink final : public TaskEventSink {
 public:
  void OnTaskEvent(const TaskEvent& event) override {
    if (agent != nullptr) agent->OnTaskEvent(event);
  }
  WorkerAgent* agent = nullptr;
};

// A TCP proxy on a loopback port of its own that holds each connection for
// `delay` before connecting it through to `target_port`: a master whose
// handshake is slow (just restarted, or on a loaded host).
class SlowProxy {
 public:
  SlowProxy(int target_port, milliseconds delay) : target_port_(target_port), delay_(delay) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~SlowProxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& t : connections_) t.join();
    if (listener_ >= 0) close(listener_);
  }
  int port() const { return port_; }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) connections_.emplace_back([this, client] { Relay(client); });
    }
  }
  void Relay(int client) {
    const auto until = std::chrono::steady_clock::now() + delay_;
    while (!stop_ && std::chrono::steady_clock::now() < until) poll(nullptr, 0, 10);
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (server >= 0 && connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      char buf[16384];
      bool open = true;
      while (!stop_ && open) {
        if (poll(p, 2, 50) <= 0) continue;
        for (int i = 0; i < 2 && open; ++i) {
          if (p[i].revents == 0) continue;
          ssize_t n = read(p[i].fd, buf, sizeof(buf));
          open = n > 0 && write(p[1 - i].fd, buf, static_cast<size_t>(n)) == n;
        }
      }
    }
    if (server >= 0) close(server);
    close(client);
  }

  int target_port_;
  milliseconds delay_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // the acceptor's only, joined after it
};

class WorkerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&master_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (agent_) agent_->Stop();
    if (runner_.joinable()) runner_.join();
    if (task_runner_) task_runner_->Shutdown(/*kill_tasks=*/true);
    sink_.agent = nullptr;
    agent_.reset();
    task_runner_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
  }

  // `master_port`: where the agent connects (default: the fake master).
  void StartAgent(int master_port = 0) {
    WorkerOptions options;
    options.master = "127.0.0.1:" + std::to_string(master_port != 0 ? master_port : port_);
    options.id = "agent-1";
    options.hostname = "agent-1.example";
    options.token = "the-token";
    options.insecure = true;  // the fake master serves plaintext
    options.work_dir = dir_.File("work");
    options.interval = milliseconds(50);
    options.cpu_cores = 4;
    options.memory_bytes = uint64_t{16} << 30;
    options.max_backoff = milliseconds(500);
    options.log_heartbeats = log_heartbeats_;
    telemetry::SamplerConfig sampler_config;
    sampler_config.nvml.library_path = testkit::SimLibraryPath();
    sampler_ = std::make_unique<telemetry::Sampler>(sampler_config, SystemClock::Instance());
    TaskRunnerConfig runner_config;
    runner_config.work_dir = options.work_dir;
    auto runner = TaskRunner::Create(runner_config, sink_);
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    task_runner_ = std::move(*runner);
    agent_ = std::make_unique<WorkerAgent>(options, *sampler_, *task_runner_);
    sink_.agent = agent_.get();
    runner_ = std::thread([this] { result_ = agent_->Run(); });
  }

  testkit::ScenarioFile scenario_{testkit::UniformScenario(1, 42)};
  testkit::TempDir dir_{"gpulse-agent"};
  ForwardingSink sink_;
  std::unique_ptr<telemetry::Sampler> sampler_;
  std::unique_ptr<TaskRunner> task_runner_;
  FakeMaster master_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<WorkerAgent> agent_;
  bool log_heartbeats_ = false;
  std::thread runner_;
  Status result_;
};

// Counts the "Heartbeat sent" lines logged at info level while it lives.
// Stop the agent before it goes: spdlog's default logger is not
// safe to replace while another thread logs through it.
class HeartbeatLines {
 public:
  HeartbeatLines() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    sink_->set_level(spdlog::level::info);
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("heartbeat-lines", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~HeartbeatLines() { spdlog::set_default_logger(previous_); }
  size_t count() {
    sink_->flush();
    const std::string text = out_.str();
    size_t n = 0;
    for (size_t at = text.find("Heartbeat sent"); at != std::string::npos; at = text.find("Heartbeat sent", at + 1)) ++n;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(WorkerAgentTest, OnlyTheFirstHeartbeatIsLoggedAtInfoUnlessAskedFor) {
  HeartbeatLines lines;
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return master_.seqs().size() >= 4; }, seconds(20)));
  // Stopped before `lines` puts the previous logger back: the agent's
  // thread must not log through a logger being destroyed.
  agent_->Stop();
  runner_.join();
  EXPECT_EQ(lines.count(), 1u);
}

TEST_F(WorkerAgentTest, LogHeartbeatsLogsEveryOneAtInfo) {
  HeartbeatLines lines;
  log_heartbeats_ = true;
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return master_.seqs().size() >= 4; }, seconds(20)));
  agent_->Stop();
  runner_.join();
  EXPECT_GE(lines.count(), 4u);
}

TEST_F(WorkerAgentTest, RegistersThenHeartbeatsWithRisingSequenceNumbers) {
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return master_.seqs().size() >= 3; }, seconds(20)));
  auto regs = master_.registrations();
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].worker_id(), "agent-1");
  EXPECT_EQ(regs[0].hostname(), "agent-1.example");
  EXPECT_EQ(regs[0].cpu_cores(), 4u);
  EXPECT_EQ(regs[0].heartbeat_interval_ms(), 50u);
  ASSERT_EQ(regs[0].gpus_size(), 1);
  ASSERT_EQ(sampler_->GpuInventory().size(), 1u);
  EXPECT_FALSE(regs[0].gpus(0).uuid().empty());
  EXPECT_EQ(regs[0].gpus(0).uuid(), sampler_->GpuInventory()[0].uuid);
  EXPECT_EQ(master_.tokens().at(0), "Bearer the-token");
  auto seqs = master_.seqs();
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  agent_->Stop();
  runner_.join();
  EXPECT_TRUE(result_.ok()) << result_.ToString();
}

// When the master ends the stream the agent connects again on its own and
// registers afresh before any further heartbeat.
TEST_F(WorkerAgentTest, ReconnectsAndRegistersAgainWhenTheStreamEnds) {
  master_.set_beats_per_stream(2);
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return master_.registrations().size() >= 3; }, seconds(30)));
  EXPECT_GE(master_.seqs().size(), 4u);
  for (const auto& r : master_.registrations()) EXPECT_EQ(r.worker_id(), "agent-1");
  for (const auto& t : master_.tokens()) EXPECT_EQ(t, "Bearer the-token");
  agent_->Stop();
  runner_.join();
  EXPECT_TRUE(result_.ok()) << result_.ToString();
}

// Each connection attempt gets long enough for a slow handshake: a master
// that takes longer to answer than the reconnect backoff (at most 1 s) is
// still reached, not cut off at every attempt ("tcp handshaker shutdown").
TEST_F(WorkerAgentTest, ReachesAMasterThatTakesLongerToAnswerThanTheBackoff) {
  SlowProxy slow(port_, milliseconds(2500));
  ASSERT_GT(slow.port(), 0);
  StartAgent(slow.port());
  EXPECT_TRUE(Eventually([&] { return !master_.registrations().empty(); }, seconds(20)));
}

// Issue 8: output the master refuses (its disk is full) is sent again from
// where the master's copy ends, after a pause, also once the task ended;
// the master ends up with all of it exactly once.
TEST_F(WorkerAgentTest, RefusedOutputIsSentAgainFromTheMastersEndAfterAPause) {
  gpulse::v1::Assign assign;
  assign.set_task_id("t-000001");
  assign.set_attempt(1);
  for (const char* arg : {"/usr/bin/seq", "1", "40000"}) assign.add_argv(arg);
  std::string expected;
  for (int i = 1; i <= 40000; ++i) expected += std::to_string(i) + "\n";  // ~230 KB: several chunks
  master_.set_assign(assign);
  master_.set_refuse_output(true);
  StartAgent();
  ASSERT_TRUE(Eventually([&] { return master_.task_exited() && master_.refusals() >= 2; }, seconds(20)))
      << master_.refusals() << " refusals";
  // Paused after each refusal, not sent again at every tick (4 per second).
  const int chunks_while_refused = master_.chunks();
  EXPECT_LE(chunks_while_refused, 12) << "the agent did not pause after refusals";
  EXPECT_EQ(master_.stored_stdout(), "");
  master_.set_refuse_output(false);
  ASSERT_TRUE(Eventually([&] { return master_.stored_stdout().size() >= expected.size(); }, seconds(20)))
      << master_.stored_stdout().size() << " of " << expected.size() << " bytes";
  EXPECT_EQ(master_.stored_stdout(), expected);
  EXPECT_EQ(master_.registrations().at(0).resends_refused_output(), true);
}

// A refused token cannot be fixed by retrying: Run() gives up and says so.
TEST_F(WorkerAgentTest, ARefusedTokenEndsRun) {
  master_.set_refuse(true);
  StartAgent();
  runner_.join();
  EXPECT_EQ(result_.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(result_.message().find("wrong cluster token"), std::string::npos) << result_.ToString();
  EXPECT_EQ(master_.tokens().size(), 1u);  // no retry
  EXPECT_TRUE(master_.registrations().empty());
}

}  // namespace
}  // namespace gpulse::worker
