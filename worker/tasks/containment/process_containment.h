// ProcessContainment: the fallback without cgroups. See containment.h.
//
// The worker is made a child subreaper, so a task's orphans — a child that
// called setsid and whose parent exited included — are re-parented to the
// worker rather than to init. A cell's members are found in /proc as:
//   - the main process and its process group,
//   - every process seen in the cell before (pid and start time),
//   - children of the worker (adopted orphans) whose environment holds the
//     cell's marker,
//   - and every descendant of those.
// Track() is meant to run about once a second while the task runs, so that
// a descendant is known before its parent dies. Signals go through pidfds
// after the start time is checked again, so a reused pid is never hit.
// Orphans that exit are reaped by the cell they belong to.
//
// What it cannot do: limit CPU time, memory or devices; and a process that
// detaches, clears its environment and loses its parent between two scans
// is not found.
//
// Thread-safety as in containment.h.
#pragma once

#include <memory>
#include <string>

#include "worker/tasks/containment/containment.h"

namespace gpulse::worker {

class ProcessContainment final : public Containment {
 public:
  // Makes this process a child subreaper; kUnavailable if the kernel
  // refuses. `why_no_cgroups` goes into the report's summary (may be empty).
  static Result<std::shared_ptr<Containment>> Open(const std::filesystem::path& proc,
                                                   const std::string& why_no_cgroups);

  const ContainmentReport& Report() const override { return report_; }
  Result<std::unique_ptr<TaskCell>> CreateCell(const CellSpec& spec) override;

 private:
  ProcessContainment(std::filesystem::path proc, ContainmentReport report)
      : proc_(std::move(proc)), report_(std::move(report)) {}

  const std::filesystem::path proc_;
  const ContainmentReport report_;
};

}  // namespace gpulse::worker
