// WorkerAgent: the worker daemon's link to the master.
//
// Keeps one long-lived gRPC stream to the master (WorkerLink.Connect, one
// channel for the life of the process): registers, sends a heartbeat every
// interval, ships task output and task events, and runs what the master
// assigns through a TaskRunner. When the master is unreachable it retries
// with backoff, then re-registers and reports the tasks it still runs.
//
// Threads: Run() is the one writer of the stream; a reader thread per
// connection handles assignments, cancels and acks; the TaskRunner's thread
// delivers task events, which are queued for the writer. Stop() may be
// called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "sample/sample.h"
#include "worker/tasks/log_tailer.h"
#include "worker/tasks/task_event.h"
#include "worker/tasks/task_runner.h"

namespace gpulse::v1 {
class Assign;
class WorkerMessage;
}

namespace gpulse::worker {

struct WorkerOptions {
  std::string master = "127.0.0.1:7070";  // HOST:PORT of the master's gRPC listener
  std::string id;                          // unique per worker; default hostname
  std::string hostname;
  std::string token;                       // the cluster token itself
  std::string work_dir = "gpulse-work";
  std::chrono::milliseconds interval{5000};
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  // Longest wait between reconnection attempts.
  std::chrono::milliseconds max_backoff{10000};
  // Where tasks' processes are kept and limited (OpenContainment); unset:
  // the process backend.
  std::shared_ptr<Containment> containment;
};

// Takes one sample of the host (telemetry::Sampler::Take in production).
using SampleFn = std::function<Sample()>;

class WorkerAgent final : public TaskEventSink {
 public:
  WorkerAgent(WorkerOptions options, SampleFn sample);
  ~WorkerAgent() override;

  // Connects and serves until Stop(). Returns OK after Stop(), or
  // Unauthenticated when the master refuses the cluster token (retrying
  // cannot help then).
  Status Run();
  void Stop();

  // TaskEventSink: called on the runner's thread.
  void OnTaskEvent(const TaskEvent& event) override;

 private:
  struct Connection;
  // One connection's life: register, then heartbeats and queued messages
  // until the stream breaks or Stop(). Returns the stream's final status.
  Status Serve(Connection& conn, const Sample& first_sample);
  void HandleMasterMessages(Connection& conn);
  void StartTask(const gpulse::v1::Assign& assign);
  void QueueTaskUpdate(const TaskEvent& event);
  // Appends output chunks of every task (all of it for `drain_task`) to out.
  void CollectOutput(std::vector<gpulse::v1::WorkerMessage>& out, const std::string& drain_task);
  bool WaitForWork(std::chrono::steady_clock::time_point until);

  WorkerOptions options_;
  SampleFn sample_;
  std::unique_ptr<TaskRunner> runner_;

  std::mutex mu_;  // guards the members below
  std::condition_variable wake_;
  std::deque<TaskEvent> pending_events_;  // finished/started tasks not yet reported
  std::map<std::string, std::unique_ptr<LogTailer>> tailers_;
  bool stream_broken_ = false;
  std::atomic<bool> stopping_{false};
  uint64_t heartbeat_seq_ = 0;
};

}  // namespace gpulse::worker
