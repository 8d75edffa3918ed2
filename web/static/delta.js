// Applies a `delta` event of /api/events to the snapshot the page holds.
//
// A delta carries the workers and tasks whose JSON changed (whole objects,
// keyed by id), the ids that left, and the summary and task count when they
// moved; `base` is the version it applies to. A copy not at `base` means an
// event was missed: applyDelta returns null and the caller starts again
// from a fresh snapshot.

function merge(list, changed, removed) {
  const byId = new Map(list.map((item) => [item.id, item]));
  for (const id of removed || []) byId.delete(id);
  for (const item of changed || []) byId.set(item.id, item);
  return [...byId.values()];
}

// Task ids are t-NNNNNN: shorter first, then by text, is submission order.
const byTaskId = (a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byWorkerId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// A new snapshot object (the old one is left as it was), or null when
// `snapshot` is not at `delta.base`.
export function applyDelta(snapshot, delta) {
  if (!snapshot || snapshot.version !== delta.base) return null;
  const workers = delta.workers || delta.workers_removed
    ? merge(snapshot.workers, delta.workers, delta.workers_removed).sort(byWorkerId) : snapshot.workers;
  const tasks = delta.tasks || delta.tasks_removed
    ? merge(snapshot.tasks, delta.tasks, delta.tasks_removed).sort(byTaskId) : snapshot.tasks;
  return {
    ...snapshot,
    version: delta.version,
    now: delta.now,
    summary: delta.summary || snapshot.summary,
    tasks_total: delta.tasks_total ?? snapshot.tasks_total,
    workers,
    tasks,
  };
}
