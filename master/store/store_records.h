// How tasks and workers are encoded in the SQLite store: one JSON document
// per row, with the fields named as in model.h. Times are integer
// nanoseconds since the Unix epoch, so they round-trip exactly.
//
// Stateless; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "master/model/model.h"
#include "master/store/task_store.h"

namespace gpulse::master {

std::string EncodeTask(const Task& task);
// Internal (naming the damage) if `text` is not a task record.
Result<Task> DecodeTask(std::string_view text);

std::string EncodeWorker(const WorkerRecord& worker);
Result<WorkerRecord> DecodeWorker(std::string_view text);

int64_t ToUnixNanos(WallTime t);
WallTime FromUnixNanos(int64_t ns);

}  // namespace gpulse::master
