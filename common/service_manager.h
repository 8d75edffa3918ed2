// The daemons' side of a service manager (systemd): readiness and stopping
// notifications, and log lines in the journal's conventions.
//
// Outside systemd (no NOTIFY_SOCKET, no JOURNAL_STREAM) every call here does
// nothing visible: notifications are dropped and logs keep their timestamps.
// Call from main() (not thread-safe with other spdlog configuration).
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace gpulse {

// Tells the service manager that the daemon serves now (Type=notify units
// start their dependants then) or that it is stopping. No-op without
// NOTIFY_SOCKET; a failure to notify is logged at debug level, never fatal.
void NotifyReady();
void NotifyStopping();

// When stderr goes to the journal (systemd sets JOURNAL_STREAM), logs drop
// their timestamps (the journal has its own) and start with the syslog
// priority of their level ("<4>" for a warning), which journald reads as the
// entry's priority. Otherwise leaves the default logger's pattern alone.
void LogForServiceManager();

// The formatter LogForServiceManager installs: "<priority>message\n".
std::unique_ptr<spdlog::formatter> JournalFormatter();

}  // namespace gpulse
