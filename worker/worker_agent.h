// WorkerAgent: the worker daemon's link to the master.
//
// Keeps one long-lived gRPC stream to the master (WorkerLink.Connect, one
// channel for the life of the process): registers, sends a heartbeat every
// interval, ships task output and task events, and runs what the master
// assigns through a TaskRunner. When the master is unreachable it retries
// with backoff, then re-registers and reports the tasks it still runs. When
// the host's GPUs change (NVML initialised again and found another set, or
// NVML stopped) it ends the stream and registers again, so that the master's
// idea of its capacity stays right.
//
// Task events are delivered exactly once in effect: each gets a number
// (event_seq) and stays in the outbox until the master acknowledges it
// (TaskUpdateAck, or Registered.acked_event_seq). A new stream's Register
// carries every unacknowledged event, oldest first, and the master applies
// them before it reconciles the running tasks, so a task that ended while
// the master was away is reported with its exit code and never requeued.
// The master ignores (and acknowledges) repeats.
//
// Task output is shipped from the task's output files (LogTailer), which
// are the worker's copy until the master has it: when the master cannot store a chunk (its disk
// is full) or a chunk starts past what it has (an earlier one was refused or
// lost with a stream), it answers OutputRefused with the offset where its
// copy ends; the agent rewinds that stream to it and ships it again after a
// pause (1 s, doubling to 10 s while refusals go on). An ended task's
// attempt is collected (its folder removed) only once the master has
// acknowledged its last event and answered a heartbeat sent after the end
// of its output with no refusal in between (the master answers in order).
// After a reconnect the end of each such task's output is shipped again as
// empty chunks at the current offsets, so that bytes lost with the old
// stream are asked for. The master's LogStore skips what it has, so nothing
// is stored twice.
//
// The reconnect backoff stays below half the master's reconnect grace
// (Registered), so a worker is back before the master gives up on it.
//
// Threads: Run() is the one writer of the stream and the only caller of
// Sampler::Take(); a reader thread per connection handles assignments,
// cancels, acks and output refusals; the TaskRunner's thread delivers task events, which are
// queued for the writer. Stop() may be called from any thread.
//
// WorkerDaemon (worker_daemon.h) owns an agent together with its sampler and
// task runner; tests and main() use that.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "link/messages.h"
#include "sample/sample.h"
#include "telemetry/sampler.h"
#include "worker/tasks/log_tailer.h"
#include "worker/tasks/task_event.h"
#include "worker/tasks/task_executor.h"

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
  // The heartbeat interval asked for; the master grants one within its
  // bounds (Registered) and the agent heartbeats at the granted one.
  std::chrono::milliseconds interval{5000};
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  // Longest wait between reconnection attempts.
  std::chrono::milliseconds max_backoff{10000};
  // Every heartbeat's "Heartbeat sent" line at info level; otherwise only the
  // first one is, and the rest are at debug.
  bool log_heartbeats = false;
  // Each stream (stdout, stderr) of a task attempt ships at most this many
  // bytes; the rest is dropped and the master told how much (LogTailer). 0:
  // no cap.
  uint64_t max_task_output_bytes = uint64_t{100} << 20;
  // How the master is trusted before the token is sent. Unless `insecure`,
  // the link is TLS with the cluster CA as its only root and the server's
  // name checked against `master`'s host: the CA is `ca_pem` (--ca-file),
  // or, when that is empty, the one the master presents whose pin is
  // `ca_pin` (fetched and checked first, pki/ca_discovery.h). gRPC sends
  // the token (call metadata) only on a channel whose handshake verified.
  std::string ca_pem;
  std::string ca_pin;
  // Plaintext (a master started with --insecure, on loopback only).
  bool insecure = false;
};

// Called on the agent's thread with every sample it takes, before the sample
// is sent (the worker's metrics endpoint keeps the latest).
using SampleObserver = std::function<void(const Sample&)>;

class WorkerAgent final : public TaskEventSink {
 public:
  // `sampler` and `runner` must outlive the agent, and `runner` must deliver
  // its events to this agent's OnTaskEvent and be shut down before the agent
  // is destroyed. `on_sample` may be empty.
  // Tasks the runner already runs (re-adopted after a restart) get their
  // output shipped from the start (the master's log store drops what it
  // has already).
  WorkerAgent(WorkerOptions options, telemetry::Sampler& sampler, TaskExecutor& runner,
              SampleObserver on_sample = {});
  ~WorkerAgent() override;

  // Connects and serves until Stop(). Unless `insecure`, the worker first
  // loads its own key and certificate, joining for one when it has none
  // (worker/identity_join.h), and connects with mutual TLS from then on.
  // Returns OK after Stop(), or
  // Unauthenticated when the master refuses the cluster token, or
  // PermissionDenied when the master refuses this worker's identity (its
  // id is bound to another key, or needs this worker's certificate) or
  // PermissionDenied / InvalidArgument when the master at the address does
  // not present the pinned CA (retrying cannot help then). Call from one
  // thread at a time.
  Status Run();
  // Makes Run() return soon. Any thread; safe to call more than once.
  void Stop();

  // TaskEventSink: called on the runner's thread (and on the reader thread
  // for a task the runner never knew). Queues the event for the writer.
  void OnTaskEvent(const TaskEvent& event) override;

 private:
  struct NumberedEvent {
    uint64_t seq;
    TaskEvent event;
  };

  struct Connection;

  // One connection's life: Register, then rounds of ShipTaskEvents,
  // ShipOutput and MaybeSendHeartbeat until the stream breaks, Stop() or the
  // GPUs change. Returns OK when it ended the stream itself (Stop or new
  // GPUs: register again), Unavailable when a write failed.
  Status Serve(Connection& conn);
  // Sends the Register message: this worker's capacity, the GPUs NVML lists
  // now (remembered in `conn`), the tasks the runner still runs and every
  // task event not acknowledged yet (then their output and, for finished
  // tasks, the end of their output). Unavailable when the write fails.
  Status Register(Connection& conn);
  // Sends every task event not sent on this stream yet, each after the
  // output of its task (all of it when the event is the task's last).
  // Sent events stay in the outbox until acknowledged. Unavailable on a
  // broken stream.
  Status ShipTaskEvents(Connection& conn);
  // Sends `event` after its task's output. A task's last event waits until
  // all its output went out; when a heartbeat falls due first, returns
  // false with the event unsent (the next round goes on where this one
  // stopped), so a task's large output never starves heartbeats.
  Result<bool> ShipTaskEvent(Connection& conn, const TaskEvent& event, uint64_t seq);
  // Sends what running tasks wrote since the last call (at most one chunk
  // per task and stream). Unavailable on a broken stream.
  Status ShipOutput(Connection& conn);
  enum class HeartbeatOutcome { kNotDue, kSent, kGpusChanged };
  // When a heartbeat is due: takes a sample (the connection's first one is
  // taken before registering), and sends it with the running tasks unless
  // NVML now lists other GPUs than were registered (kGpusChanged: nothing
  // sent; see RegisteredGpus). Unavailable on a broken stream.
  Result<HeartbeatOutcome> MaybeSendHeartbeat(Connection& conn);

  // Writes `messages` in order; Unavailable("stream broke while <doing>")
  // at the first that fails.
  Status Send(Connection& conn, const std::vector<gpulse::v1::WorkerMessage>& messages,
              const char* doing);
  // A sample from the sampler, its GPU processes marked inside or outside
  // gpulse (gpu_process_owners.h), shown to on_sample_.
  Sample TakeSample();
  // The CA to trust the master by: options_.ca_pem, or the pinned one the
  // master presents, fetched with retries until Stop() (then empty) or a
  // refusal (PermissionDenied, InvalidArgument). A fetch under way delays
  // Stop() by at most its 5 s timeout.
  Result<std::string> TrustedCa();
  // Waits `backoff` plus up to a quarter more, or until Stop(); returns the
  // next, doubled backoff (at most max_backoff).
  std::chrono::milliseconds WaitBeforeRetry(std::chrono::milliseconds backoff);
  void HandleMasterMessages(Connection& conn);
  void StartTask(const gpulse::v1::Assign& assign);
  // Appends output chunks of every task to out: one round of reads for
  // each, and for `drain_task` (a task that ended) up to kDrainRounds rounds
  // (at most about 1 MiB). Returns true when `drain_task` has more, so the
  // caller sends `out` and calls again: a task's output is never all in
  // memory at once.
  bool CollectOutput(std::vector<gpulse::v1::WorkerMessage>& out, const std::string& drain_task);
  // Sends the output of `task_id`, which ended, in bounded batches: all of
  // it (returns true), or until `until` has passed (returns false when
  // there is more).
  Result<bool> ShipAllOutput(Connection& conn, const std::string& task_id,
                             std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max());
  // Waits until `until`, a task event, a broken stream or Stop(); returns
  // false for the last two.
  bool WaitForWork(std::chrono::steady_clock::time_point until);
  // Forgets the events numbered up to `seq` (the master has them); tells the
  // runner it may forget the attempts those events ended whose output the
  // master has too (see SettledLocked).
  void Acknowledge(uint64_t seq);
  // The master did not store `refused`'s stream from its offset on: rewinds
  // the task's tailer there and pauses its output. Reader thread.
  void OnOutputRefused(const link::OutputRefused& refused);
  // The master answered heartbeat `seq`: every ended task whose output had
  // all gone out before it, unrefused since, has its output stored.
  void OutputSettledBy(uint64_t heartbeat_seq);
  // Ships again the output of ended tasks whose output is not known to be
  // stored and not paused: to its end, then empty chunks at the end (so
  // that the master refuses what it lacks). Unavailable on a broken stream.
  Status ShipUnsettledOutput(Connection& conn);
  // Empty chunks at `task_id`'s current offsets, both streams.
  Status ShipOutputEnd(Connection& conn, const std::string& task_id);
  // Whether `task_id`'s output is paused after a refusal. Holds mu_.
  bool OutputPausedLocked(const std::string& task_id, std::chrono::steady_clock::time_point now) const;
  // Records that `task_id`'s last event (numbered `seq`) and all its output
  // went out: output settles with the next heartbeat's answer unless it was
  // refused (or paused) since `refusals_before`. Holds mu_.
  void EndedLocked(const std::string& task_id, uint32_t attempt, uint64_t seq, uint64_t refusals_before);
  // How many refusals `task_id`'s output has had. Holds mu_.
  uint64_t RefusalsLocked(const std::string& task_id) const;
  // Removes and returns the ended attempts whose event was acknowledged and
  // whose output is stored (their tailers dropped); the caller tells the
  // runner, without mu_. Holds mu_.
  std::vector<std::pair<std::string, uint32_t>> TakeSettledLocked();
  void CollectAll(const std::vector<std::pair<std::string, uint32_t>>& attempts);
  // The master answered a message this worker sent at `sent_ns`
  // (MonotonicNowNs): renews the task lease from then. Sending time, not the
  // answer's arrival: the master received the message after it was sent, so
  // its lease runs from later than the worker's (ARCHITECTURE.md, Fencing).
  void RenewLease(int64_t sent_ns);
  // The events numbered up to `seq` went out on the current stream.
  void MarkSentUpTo(uint64_t seq);
  // The longest wait between reconnection attempts: options_.max_backoff,
  // and below half the master's reconnect grace once it has said it.
  // Whether this worker can run tasks now (CheckTaskDirectories): "" or why
  // not; logs when that changes. Called on the agent's thread only.
  std::string SelfCheck();
  std::chrono::milliseconds MaxBackoff();

  WorkerOptions options_;
  telemetry::Sampler& sampler_;
  TaskExecutor& runner_;
  SampleObserver on_sample_;

  std::mutex mu_;  // guards the members below
  std::condition_variable wake_;
  // Numbered task events the master has not acknowledged, oldest first;
  // the first `sent_` of them went out on the current stream.
  std::deque<NumberedEvent> outbox_;
  size_t sent_ = 0;
  uint64_t next_event_seq_ = 1;
  std::chrono::milliseconds reconnect_grace_{0};  // from the latest Registered; 0: unknown
  std::map<std::string, std::unique_ptr<LogTailer>> tailers_;
  // Output the master refused, by task: its tailer was rewound to where the
  // master's copy ends; not shipped before `retry_at`.
  struct RefusedOutput {
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds pause{0};
    uint64_t refusals = 0;
  };
  std::map<std::string, RefusedOutput> refused_output_;
  // Tasks whose last event went out, until their attempt is collected.
  struct EndedTask {
    uint32_t attempt = 0;
    uint64_t event_seq = 0;
    bool event_acked = false;
    // The heartbeat whose answer says the output is stored (sent after its
    // end); 0: not all of it went out since the last refusal or stream.
    uint64_t settles_with_heartbeat = 0;
    bool output_stored = false;
  };
  std::map<std::string, EndedTask> ended_;
  bool stream_broken_ = false;
  std::atomic<bool> stopping_{false};
  uint64_t heartbeat_seq_ = 0;  // only Run()'s thread
  // When each heartbeat not answered yet was sent (MonotonicNowNs), and the
  // latest Register; the reader renews the lease from them.
  std::map<uint64_t, int64_t> heartbeat_sent_ns_;  // guarded by mu_
  int64_t register_sent_ns_ = 0;                    // guarded by mu_
  std::chrono::milliseconds task_lease_{0};         // guarded by mu_; from Registered
  std::string self_check_reason_;  // the last SelfCheck() result; agent thread only
  // Set by Run() before the reader threads start, read by them: when the
  // link started (after the CA was trusted) and how this worker proves who
  // it is, for the first "registered" line (the join's set-up time).
  std::optional<std::chrono::steady_clock::time_point> link_started_;
  std::string identity_note_ = "plaintext";
  std::atomic<bool> first_registered_{false};
  // The interval the master granted in its latest Registered (ms; 0: none
  // yet, use options_.interval). Set by the reader thread.
  std::atomic<int64_t> granted_interval_ms_{0};
};

}  // namespace gpulse::worker
