#include "master/core/worker_link_handler.h"

namespace gpulse::master {

link::Assignment AssignmentFor(const Task& task) {
  return {task.id,           task.attempts,        task.spec.argv, task.spec.env, task.gpu_indices,
          task.gpu_uuids,    task.spec.cpus,       task.spec.memory_bytes};
}

}  // namespace gpulse::master
