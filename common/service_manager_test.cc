#include "common/service_manager.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "common/unique_fd.h"
#include "testkit/temp_dir.h"

namespace gpulse {
namespace {

TEST(JournalFormatterTest, LinesCarryTheirPriorityAndNoTimestamp) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(JournalFormatter());
  spdlog::logger logger("journal-test", sink);
  logger.set_level(spdlog::level::debug);
  logger.warn("disk almost full");
  logger.error("cannot write");
  logger.info("started");
  logger.debug("detail");
  EXPECT_EQ(out.str(), "<4>disk almost full\n<3>cannot write\n<6>started\n<7>detail\n");
}

// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = fd_.valid() && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval timeout{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  bool ok() const { return ok_; }
  std::string Receive() {
    char buf[256];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  UniqueFd fd_;
  bool ok_ = false;
};

TEST(NotifyTest, ReadyAndStoppingReachTheServiceManager) {
  testkit::TempDir dir{"gpulse-notify"};
  const std::string path = dir.File("notify");
  NotifySocket socket(path);
  ASSERT_TRUE(socket.ok());
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", path.c_str(), 1), 0);
  NotifyReady();
  NotifyStopping();
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(socket.Receive(), "READY=1");
  EXPECT_EQ(socket.Receive(), "STOPPING=1");
}

TEST(NotifyTest, WithoutASocketNothingHappens) {
  ::unsetenv("NOTIFY_SOCKET");
  NotifyReady();  // must neither fail nor block
  SUCCEED();
}

}  // namespace
}  // namespace gpulse
