#include "worker/tasks/containment/device_filter.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/posix_error.h"

namespace gpulse::worker {
namespace {

constexpr int32_t kNvidiaMajor = 195;
constexpr int32_t kFirstNonGpuMinor = 254;

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn insn;
  std::memset(&insn, 0, sizeof insn);
  insn.code = code;
  insn.dst_reg = dst & 0xf;
  insn.src_reg = src & 0xf;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

// rDst = *(u32 *)(r1 + offset): a field of struct bpf_cgroup_dev_ctx.
bpf_insn LoadContextField(uint8_t dst, int16_t offset) { return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, 1, offset, 0); }
bpf_insn Jump(uint8_t op, uint8_t reg, int32_t imm) { return Insn(BPF_JMP | op | BPF_K, reg, 0, 0, imm); }
// r0 = value; exit.
void AppendReturn(std::vector<bpf_insn>& program, int32_t value) {
  program.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, value));
  program.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

// See the header. Every "goto allow" jumps to the last two instructions.
std::vector<bpf_insn> GpuFilterProgram(const std::vector<uint32_t>& allowed_minors) {
  std::vector<bpf_insn> p;
  std::vector<size_t> to_allow;
  auto jump_to_allow = [&](uint8_t op, uint8_t reg, int32_t imm) {
    to_allow.push_back(p.size());
    p.push_back(Jump(op, reg, imm));
  };
  p.push_back(LoadContextField(2, offsetof(bpf_cgroup_dev_ctx, access_type)));
  p.push_back(Insn(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff));  // the device type
  jump_to_allow(BPF_JNE, 2, BPF_DEVCG_DEV_CHAR);
  p.push_back(LoadContextField(3, offsetof(bpf_cgroup_dev_ctx, major)));
  jump_to_allow(BPF_JNE, 3, kNvidiaMajor);
  p.push_back(LoadContextField(4, offsetof(bpf_cgroup_dev_ctx, minor)));
  jump_to_allow(BPF_JGE, 4, kFirstNonGpuMinor);
  for (uint32_t minor : allowed_minors) jump_to_allow(BPF_JEQ, 4, static_cast<int32_t>(minor));
  AppendReturn(p, 0);  // deny
  const size_t allow = p.size();
  AppendReturn(p, 1);
  for (size_t at : to_allow) p[at].off = static_cast<int16_t>(allow - at - 1);
  return p;
}

long Bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

Result<UniqueFd> Load(const std::vector<bpf_insn>& program) {
  static const char kLicense[] = "Apache-2.0";
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  long fd = Bpf(BPF_PROG_LOAD, attr);
  if (fd < 0) return PosixError("loading the BPF device filter", errno);
  return UniqueFd(static_cast<int>(fd));
}

Status AttachOrDetach(int cmd, const std::filesystem::path& dir, int program) {
  UniqueFd cgroup(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup.valid()) return PosixError("open '" + dir.string() + "'", errno);
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cgroup.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(program);
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (cmd == BPF_PROG_ATTACH) attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(cmd, attr) != 0) {
    return PosixError(std::string(cmd == BPF_PROG_ATTACH ? "attaching" : "detaching") +
                          " the BPF device filter to '" + dir.string() + "'",
                      errno);
  }
  return Status::Ok();
}

}  // namespace

Result<UniqueFd> LoadGpuDeviceFilter(const std::vector<uint32_t>& allowed_minors) {
  return Load(GpuFilterProgram(allowed_minors));
}

Status AttachDeviceFilter(const std::filesystem::path& dir, int program) {
  return AttachOrDetach(BPF_PROG_ATTACH, dir, program);
}

Status ProbeDeviceFilter(const std::filesystem::path& dir) {
  std::vector<bpf_insn> allow_all;
  AppendReturn(allow_all, 1);
  ASSIGN_OR_RETURN(UniqueFd program, Load(allow_all));
  RETURN_IF_ERROR(AttachOrDetach(BPF_PROG_ATTACH, dir, program.get()));
  return AttachOrDetach(BPF_PROG_DETACH, dir, program.get());
}

}  // namespace gpulse::worker
