// Clean shutdown for daemons: block SIGINT/SIGTERM in every thread, then
// wait for one in main().
#pragma once

namespace gpulse {

// Blocks SIGINT and SIGTERM for the calling thread and every thread it
// starts afterwards. Call first thing in main().
void BlockStopSignals();
// Waits until SIGINT or SIGTERM arrives; returns its number.
int WaitForStopSignal();

}  // namespace gpulse
