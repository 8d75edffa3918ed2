// The latest cluster snapshot from the master (GET /api/events or
// /api/dashboard), which every view of the page reads.

export const latest = {
  snapshot: null,
  receivedAt: 0,  // performance.now() when the snapshot arrived
};

export function setSnapshot(snapshot) {
  latest.snapshot = snapshot;
  latest.receivedAt = performance.now();
}

// Seconds since the epoch on the master's clock, as of now.
export function serverNow() {
  if (!latest.snapshot) return Date.now() / 1000;
  return latest.snapshot.now + (performance.now() - latest.receivedAt) / 1000;
}

// The latest snapshot's worker object of `id`, or undefined.
export function workerOf(id) {
  return latest.snapshot ? latest.snapshot.workers.find((w) => w.id === id) : undefined;
}
