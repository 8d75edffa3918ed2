#include "worker/worker_daemon.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "worker/metrics_server.h"
#include "worker/tasks/supervised_task_runner.h"
#include "worker/tasks/task_runner.h"

namespace gpulse::worker {

WorkerDaemon::WorkerDaemon(WorkerDaemonOptions options) : options_(std::move(options)) {}

WorkerDaemon::~WorkerDaemon() { Stop(); }

int WorkerDaemon::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

Status WorkerDaemon::Start() {
  Status started = StartParts();
  if (!started.ok()) {
    Stop();
    runner_.reset();
    metrics_.reset();
    sampler_.reset();  // and its slow-metrics thread
  }
  return started;
}

Status WorkerDaemon::StartParts() {
  sampler_ = std::make_unique<telemetry::Sampler>(options_.sampler, SystemClock::Instance());
  const Sample probe = ProbeHost();

  if (!options_.metrics_listen.empty()) {
    metrics_ = std::make_unique<MetricsServer>(options_.agent.id, options_.agent.hostname);
    RETURN_IF_ERROR(metrics_->Start(options_.metrics_listen));
    metrics_->Update(probe);
    // The bound port, which differs from the one asked for when that was 0.
    const std::string& listen = options_.metrics_listen;
    spdlog::info("serving metrics on http://{}:{}/metrics", listen.substr(0, listen.rfind(':')), metrics_->port());
  }

  ASSIGN_OR_RETURN(TaskUser task_user, ResolveTaskUser(options_.task_user, ::geteuid()));
  if (::geteuid() == 0 && task_user.uid == 0 && !options_.task_user.empty()) {
    spdlog::warn("tasks run as root (--task-user={}): a task can do anything on this host, including reading the "
                 "worker's keys and token", options_.task_user);
  }
  spdlog::info("tasks run as {}{}", DescribeTaskUser(task_user),
               ::geteuid() == 0 || task_user.switches ? "" : " (this worker's user: it is not root)");
  SupervisedTaskRunner* supervised = nullptr;
  if (options_.supervisor) {
    SupervisedTaskRunnerConfig config;
    config.work_dir = options_.agent.work_dir;
    config.supervisor_path = *options_.supervisor;
    config.containment = options_.containment_backend;
    // Each supervisor resolves the name again: it runs the task, as root.
    config.task_user = options_.task_user;
    ASSIGN_OR_RETURN(std::unique_ptr<SupervisedTaskRunner> runner, SupervisedTaskRunner::Create(config, *this));
    supervised = runner.get();
    runner_ = std::move(runner);
  } else {
    TaskRunnerConfig runner_config;
    runner_config.work_dir = options_.agent.work_dir;
    runner_config.containment = options_.containment;
    runner_config.task_user = std::move(task_user);
    ASSIGN_OR_RETURN(runner_, TaskRunner::Create(runner_config, *this));
  }

  agent_ = std::make_unique<WorkerAgent>(options_.agent, *sampler_, *runner_, [this](const Sample& sample) {
    if (metrics_) metrics_->Update(sample);
  });
  // Events of re-adopted attempts wait for the agent they go to.
  if (supervised != nullptr) supervised->ReleaseEvents();
  agent_thread_ = std::thread([this] { RunAgent(); });
  return Status::Ok();
}

Sample WorkerDaemon::ProbeHost() {
  Sample probe = sampler_->Take();
  if (options_.agent.cpu_cores == 0) options_.agent.cpu_cores = probe.host.cpu_cores;
  if (options_.agent.memory_bytes == 0) options_.agent.memory_bytes = probe.host.memory_total_bytes;
  if (!probe.nvml.available) {
    spdlog::warn("no GPU telemetry: {}", probe.nvml.error.value_or("NVML unavailable"));
  } else {
    spdlog::info("NVML {}: {} GPU(s)", probe.nvml.driver_version.value_or("?"), probe.gpus.size());
  }
  return probe;
}

void WorkerDaemon::RunAgent() {
  Status result = agent_->Run();
  {
    std::lock_guard lock(result_mu_);
    agent_result_ = result;
  }
  if (!result.ok() && options_.on_agent_failure) options_.on_agent_failure(result);
}

void WorkerDaemon::OnTaskEvent(const TaskEvent& event) { agent_->OnTaskEvent(event); }

Status WorkerDaemon::Stop() {
  if (!stopped_) {
    stopped_ = true;
    if (agent_) agent_->Stop();
    if (agent_thread_.joinable()) agent_thread_.join();
    // Before the agent goes: the runner delivers its events to it.
    if (runner_) runner_->Shutdown(/*kill_tasks=*/options_.stop_tasks_on_exit || !options_.supervisor);
    if (metrics_) metrics_->Stop();
  }
  std::lock_guard lock(result_mu_);
  return agent_result_;
}

}  // namespace gpulse::worker
