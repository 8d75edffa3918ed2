// Applies a `delta` event of /api/events to the snapshot the page holds
// (master/dashboard/live_delta.h has the format).
//
// A delta carries, keyed by id, the workers and tasks that are new or must
// be replaced whole (`workers`, `tasks`), patches of the values that
// changed (`worker_patches`, `task_patches`), the ids that left, and a
// patch of the summary; `base` is the version it applies to. A copy not at
// `base` means an event was missed: applyDelta returns null and the caller
// starts again from a fresh snapshot.

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// `value` with `patch` applied: an object patches an object key by key, and
// an array position by position ({"3": …}); anything else replaces.
export function applyPatch(value, patch) {
  if (!isPlainObject(patch)) return patch;
  if (Array.isArray(value)) {
    const out = value.slice();
    for (const [i, p] of Object.entries(patch)) out[Number(i)] = applyPatch(out[Number(i)], p);
    return out;
  }
  if (!isPlainObject(value)) return patch;
  const out = { ...value };
  for (const [key, p] of Object.entries(patch)) out[key] = applyPatch(out[key], p);
  return out;
}

function merge(list, whole, patches, removed, compare) {
  if (!whole && !patches && !removed) return list;
  const byId = new Map(list.map((item) => [item.id, item]));
  for (const id of removed || []) byId.delete(id);
  for (const [id, patch] of Object.entries(patches || {})) {
    if (byId.has(id)) byId.set(id, applyPatch(byId.get(id), patch));
  }
  for (const item of whole || []) byId.set(item.id, item);
  return [...byId.values()].sort(compare);
}

// Task ids are t-NNNNNN: shorter first, then by text, is submission order.
const byTaskId = (a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byWorkerId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// A new snapshot object (the old one is left as it was), or null when
// `snapshot` is not at `delta.base` or a patch names an unknown id.
export function applyDelta(snapshot, delta) {
  if (!snapshot || snapshot.version !== delta.base) return null;
  const known = (list, patches) => Object.keys(patches || {}).every((id) => list.some((x) => x.id === id));
  if (!known(snapshot.workers, delta.worker_patches) || !known(snapshot.tasks, delta.task_patches)) return null;
  return {
    ...snapshot,
    version: delta.version,
    now: delta.now,
    summary: delta.summary ? applyPatch(snapshot.summary, delta.summary) : snapshot.summary,
    tasks_total: delta.tasks_total ?? snapshot.tasks_total,
    workers: merge(snapshot.workers, delta.workers, delta.worker_patches, delta.workers_removed, byWorkerId),
    tasks: merge(snapshot.tasks, delta.tasks, delta.task_patches, delta.tasks_removed, byTaskId),
  };
}
