// Cluster: what a task says when the master cannot store its output.
#include <string_view>

#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"

namespace gpulse::master {
namespace {

constexpr std::string_view kNotStored = "output not stored: ";

uint8_t Bit(link::OutputStream stream) { return stream == link::OutputStream::kStderr ? 2 : 1; }

std::string NotStoredMessage(const std::string& reason) {
  return std::string(kNotStored) + reason + "; the worker will re-send";
}

}  // namespace

void Cluster::NoteOutputNotStored(const std::string& task_id, uint32_t attempt, link::OutputStream stream,
                                  const std::string& reason) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  TaskEntry* entry = I.FindTask(task_id);
  if (entry == nullptr || attempt != entry->task.attempts) return;
  entry->output_owed_attempt = attempt;
  Task& t = entry->task;
  const std::string note = NotStoredMessage(reason);
  // The note ends the message (after why a finished task ended); an end
  // reported meanwhile replaced it, so it is added again.
  const bool add_note = t.message.find(kNotStored) == std::string::npos;
  if (add_note) t.message = t.message.empty() ? note : t.message + "; " + note;
  TaskStoreBatch batch;
  const bool first = entry->output_unstored_streams == 0;
  entry->output_unstored_streams |= Bit(stream);
  if (first) {
    I.Record(t, note, batch);  // one event until output is stored again
  } else if (add_note) {
    batch.tasks.push_back(t);
  } else {
    return;
  }
  I.PersistOrWarn(batch, "a task's output note");
  I.Changed();
}

void Cluster::NoteOutputStored(const std::string& task_id, uint32_t attempt, link::OutputStream stream) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  TaskEntry* entry = I.FindTask(task_id);
  if (entry == nullptr || (entry->output_unstored_streams & Bit(stream)) == 0 || attempt != entry->task.attempts) {
    return;
  }
  entry->output_unstored_streams &= static_cast<uint8_t>(~Bit(stream));
  if (entry->output_unstored_streams != 0) return;  // the other stream still waits
  Task& t = entry->task;
  if (size_t at = t.message.find(kNotStored); at != std::string::npos) {
    if (at >= 2 && t.message.compare(at - 2, 2, "; ") == 0) at -= 2;
    t.message.erase(at);
  }
  TaskStoreBatch batch;
  I.Record(t, "output stored again: the worker re-sent what was not stored", batch);
  I.PersistOrWarn(batch, "a task's output note");
  I.Changed();
}

}  // namespace gpulse::master
