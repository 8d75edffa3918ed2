#include "common/service_manager.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace gpulse {
namespace {

void Notify(const char* state) {
  // sd_notify returns 0 when NOTIFY_SOCKET is unset: nothing to tell.
  if (int rc = sd_notify(0, state); rc < 0) spdlog::debug("sd_notify({}): {}", state, std::strerror(-rc));
}

// spdlog's level as a syslog priority prefix (sd-daemon.h's SD_ERR etc.).
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* prefix = SD_INFO;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: prefix = SD_DEBUG; break;
      case spdlog::level::info: prefix = SD_INFO; break;
      case spdlog::level::warn: prefix = SD_WARNING; break;
      case spdlog::level::err: prefix = SD_ERR; break;
      case spdlog::level::critical: prefix = SD_CRIT; break;
      default: break;
    }
    dest.append(prefix, prefix + std::strlen(prefix));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

}  // namespace

void NotifyReady() { Notify("READY=1"); }
void NotifyStopping() { Notify("STOPPING=1"); }

std::unique_ptr<spdlog::formatter> JournalFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
  return formatter;
}

void LogForServiceManager() {
  const char* journal = std::getenv("JOURNAL_STREAM");
  if (journal == nullptr || *journal == '\0') return;
  spdlog::set_formatter(JournalFormatter());
}

}  // namespace gpulse
