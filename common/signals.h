// Clean shutdown for daemons: block SIGINT/SIGTERM in every thread, then
// wait for one in main().
#pragma once

namespace gpulse {

// Blocks SIGINT and SIGTERM for the calling thread and every thread it
// starts afterwards. Call first thing in main().
void BlockStopSignals();
// Waits until SIGINT or SIGTERM arrives; returns its number.
int WaitForStopSignal();
// Ignores SIGPIPE in the whole process, so that writing to a peer that has
// gone away is an EPIPE error, not death. Needed wherever TLS is spoken
// over cpp-httplib: OpenSSL writes to its socket without MSG_NOSIGNAL, so a
// client that disconnects mid-reply would otherwise kill the master (and a
// master that dies mid-request would kill the CLI). Child processes reset
// it before exec (worker/tasks/child_process.h). Idempotent.
void IgnoreBrokenPipes();

}  // namespace gpulse
