// WorkerDaemon: one running worker — the host's Sampler, the TaskRunner, the
// WorkerAgent that links them to the master and, when asked for, the
// worker's own metrics endpoint. `gpulse-worker` is flag parsing and signal
// handling around it; tests run one in-process.
//
// Start() and Stop() are called from one thread; everything inside runs on
// threads of its own (see WorkerAgent and TaskRunner) and is thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "telemetry/sampler.h"
#include "worker/tasks/containment/containment.h"
#include "worker/tasks/task_event.h"
#include "worker/worker_agent.h"

namespace gpulse::worker {

class MetricsServer;

struct WorkerDaemonOptions {
  // The link to the master. cpu_cores and memory_bytes left at 0 are filled
  // in from a first look at the host.
  WorkerOptions agent;
  // HOST:PORT to serve this worker's Prometheus metrics on (port 0 picks a
  // free one); empty: no endpoint.
  std::string metrics_listen;
  telemetry::SamplerConfig sampler;
  // Where tasks' processes are kept and limited (OpenContainment); unset:
  // the process backend.
  std::shared_ptr<Containment> containment;
  // Whom tasks run as when the worker is root (worker/tasks/task_user.h):
  // gpulse-worker's --task-user, default "nobody"; "root" is the explicit
  // opt-in to root tasks (logged as a warning). Empty: the worker's own user.
  // Ignored when the worker is not root: tasks then run as the worker's user.
  std::string task_user;
  // Set: each task attempt gets a supervisor process that outlives the worker
  // (SupervisedTaskRunner; the path of gpulse-task-supervisor, empty: beside
  // this program), which opens the containment named `containment_backend`
  // for its attempt; a restarted worker re-adopts them. Unset: tasks are
  // children of this process (TaskRunner with `containment`), as in-process
  // tests embed a worker.
  std::optional<std::filesystem::path> supervisor;
  std::string containment_backend = "auto";
  // Stop() kills the running tasks (true), or leaves them running under their
  // supervisors for the next worker on this work dir to re-adopt (false,
  // gpulse-worker's default: an upgrade does not kill jobs). Without
  // supervisors tasks are always killed.
  bool stop_tasks_on_exit = true;
  // Called once, on the agent's thread, when the agent gives up on its own
  // (the master refused the cluster token), with the reason; a daemon's
  // main() uses it to wake up. Not called when Stop() ends the agent.
  std::function<void(const Status&)> on_agent_failure;
};

class WorkerDaemon final : private TaskEventSink {
 public:
  explicit WorkerDaemon(WorkerDaemonOptions options);
  // Stop().
  ~WorkerDaemon() override;
  WorkerDaemon(const WorkerDaemon&) = delete;
  WorkerDaemon& operator=(const WorkerDaemon&) = delete;

  // Opens NVML and takes a first look at the host, starts the metrics
  // endpoint (if asked for) and the task runner, and starts the agent on a
  // thread of its own; returns without waiting for the master, which the
  // agent keeps trying to reach. Fails with a clear Status (a metrics
  // address that is malformed or in use; no file descriptor left for the
  // task runner) and leaves nothing running. Call once.
  Status Start();
  // Stops the agent, kills the tasks it runs (see stop_tasks_on_exit), stops the metrics endpoint
  // and joins every thread. Returns how the agent ended: OK when this call
  // stopped it (or it never started), else the error it gave up with. Safe
  // to call twice; later calls return the same.
  Status Stop();

  // The options in effect: after Start(), with the capacity it found.
  const WorkerDaemonOptions& options() const { return options_; }
  // The metrics endpoint's bound port after Start(); 0 without one.
  int metrics_port() const;

 private:
  // TaskEventSink for the runner: forwards to the agent. (The runner is made
  // first, because the agent holds it; it reports nothing until the agent
  // starts a task.)
  void OnTaskEvent(const TaskEvent& event) override;
  // Start() without the clean-up after a failure.
  Status StartParts();
  // A first look at the host: fills in the capacity the agent registers
  // with and logs what NVML found.
  Sample ProbeHost();
  // The agent's thread: Run() until it ends; keeps the result.
  void RunAgent();

  WorkerDaemonOptions options_;
  std::unique_ptr<telemetry::Sampler> sampler_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<TaskExecutor> runner_;
  std::unique_ptr<WorkerAgent> agent_;
  std::thread agent_thread_;
  std::mutex result_mu_;
  Status agent_result_;  // guarded by result_mu_
  bool stopped_ = false;
};

}  // namespace gpulse::worker
