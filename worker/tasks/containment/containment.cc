#include "worker/tasks/containment/containment.h"

#include <cstdio>

#include "worker/tasks/containment/cgroup_containment.h"
#include "worker/tasks/containment/cgroup_layout.h"
#include "worker/tasks/containment/process_containment.h"

namespace gpulse::worker {

Result<std::shared_ptr<Containment>> OpenContainment(const ContainmentOptions& options) {
  using Backend = ContainmentOptions::Backend;
  const std::string& group = options.group;
  if (group.empty() || group == "." || group == ".." || group.find('/') != std::string::npos) {
    return InvalidArgument("containment group '" + group + "' must be a single folder name");
  }
  if (options.backend == Backend::kProcess) {
    return ProcessContainment::Open(options.proc, "the process backend was chosen");
  }
  Result<CgroupLayout> layout = FindCgroupLayout(options);
  if (!layout.ok()) {
    if (options.backend != Backend::kAuto) return layout.status();
    return ProcessContainment::Open(options.proc, layout.status().message());
  }
  return std::shared_ptr<Containment>(std::make_shared<CgroupContainment>(std::move(*layout)));
}

Result<std::shared_ptr<Containment>> OpenContainmentFor(std::string_view backend,
                                                        const std::filesystem::path& work_dir) {
  ContainmentOptions options;
  ASSIGN_OR_RETURN(options.backend, ParseContainmentBackend(backend));
  options.group = CellGroupNameFor(work_dir);
  return OpenContainment(options);
}

Result<ContainmentOptions::Backend> ParseContainmentBackend(std::string_view name) {
  using Backend = ContainmentOptions::Backend;
  if (name == "auto") return Backend::kAuto;
  if (name == "cgroup2") return Backend::kCgroup2;
  if (name == "cgroup1") return Backend::kCgroup1;
  if (name == "process") return Backend::kProcess;
  return InvalidArgument("unknown containment '" + std::string(name) + "': use auto, cgroup2, cgroup1 or process");
}

std::string CellGroupNameFor(const std::filesystem::path& work_dir) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::weakly_canonical(std::filesystem::absolute(work_dir, error), error);
  if (error) absolute = work_dir;
  std::string text = absolute.lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("gpulse-") + hex;
}

bool IsCellGroupName(std::string_view name) {
  constexpr std::string_view kPrefix = "gpulse-";
  if (name.size() != kPrefix.size() + 16 || name.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : name.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace gpulse::worker
