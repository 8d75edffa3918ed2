// CgroupContainment: cells as cgroups (v2, v1, or v2 for membership plus v1
// controllers), laid out by FindCgroupLayout. See containment.h for what
// each layout enforces.
//
// A cell is one group named after the cell in every hierarchy of the
// layout. Limits are written when it is created; the child joins every
// group between fork and exec (CellEntry), so no process of the task ever
// runs outside it. Membership is read from the v2 group, or else from one v1
// group (freezer, pids or memory first).
//
// Thread-safety as in containment.h.
#pragma once

#include <memory>

#include "worker/tasks/containment/cgroup_layout.h"
#include "worker/tasks/containment/containment.h"

namespace gpulse::worker {

class CgroupContainment final : public Containment {
 public:
  explicit CgroupContainment(CgroupLayout layout);
  // Removes the group folders when they hold no cells.
  ~CgroupContainment() override;

  const ContainmentReport& Report() const override { return report_; }
  Result<std::unique_ptr<TaskCell>> CreateCell(const CellSpec& spec) override;

 private:
  const CgroupLayout layout_;
  const ContainmentReport report_;
};

}  // namespace gpulse::worker
