// Each worker's recent figures (GET /api/workers/{id}/history), kept per
// worker as columns over one time axis and topped up with what is new since
// the last point, for the worker cards' charts.

import { authorizedFetch } from './token.js';

const HISTORY_MIN_GAP_MS = 1000;
const GPU_SERIES = ['utilization_gpu', 'memory_used_bytes', 'temperature_c', 'power_w'];

const histories = new Map();  // worker id -> merged history columns

// The history columns of worker `id` (empty until fetched). `version`
// changes whenever points were added or dropped.
export function historyOf(id) {
  let hist = histories.get(id);
  if (!hist) {
    hist = { t: [], host: { cpu_percent: [], memory_percent: [], gpu_percent: [] }, gpus: new Map(),
      window: 3600, version: 0, fetching: false, fetchedAt: 0, heartbeats: -1 };
    histories.set(id, hist);
  }
  return hist;
}

function mergeHistory(hist, data) {
  hist.window = data.window_seconds || hist.window;
  const before = hist.t.length;
  const added = data.t.length;
  hist.t.push(...data.t);
  for (const key of Object.keys(hist.host)) hist.host[key].push(...data.host[key]);
  const present = new Set();
  for (const g of data.gpus) {
    present.add(g.index);
    let mine = hist.gpus.get(g.index);
    if (!mine) {
      const gap = () => new Array(before).fill(null);
      mine = { index: g.index, utilization_gpu: gap(), memory_used_bytes: gap(), temperature_c: gap(), power_w: gap() };
      hist.gpus.set(g.index, mine);
    }
    mine.memory_total_bytes = g.memory_total_bytes;
    for (const key of GPU_SERIES) mine[key].push(...g[key]);
  }
  for (const [index, mine] of hist.gpus) {
    if (present.has(index)) continue;
    for (const key of GPU_SERIES) mine[key].push(...new Array(added).fill(null));
  }
  // Keep the window only.
  const oldest = (hist.t.length ? hist.t[hist.t.length - 1] : 0) - hist.window;
  let drop = 0;
  while (drop < hist.t.length && hist.t[drop] < oldest) drop++;
  if (drop) {
    hist.t.splice(0, drop);
    for (const key of Object.keys(hist.host)) hist.host[key].splice(0, drop);
    for (const mine of hist.gpus.values()) {
      for (const key of GPU_SERIES) mine[key].splice(0, drop);
    }
  }
  if (added || drop) hist.version++;
}

// Fetches what is new for worker `w` (a worker object) when it has sent a
// heartbeat since the last fetch, at most once a second and one fetch at a
// time, and calls `onMerged()` once the new points are in. Failed fetches
// are simply tried again on a later heartbeat.
export function refreshHistory(w, onMerged) {
  const hist = historyOf(w.id);
  if (hist.fetching || w.heartbeats === hist.heartbeats) return;
  if (performance.now() - hist.fetchedAt < HISTORY_MIN_GAP_MS) return;
  hist.fetching = true;
  hist.fetchedAt = performance.now();
  const heartbeats = w.heartbeats;
  const since = hist.t.length ? `?since=${hist.t[hist.t.length - 1]}` : '';
  authorizedFetch(`/api/workers/${encodeURIComponent(w.id)}/history${since}`, { cache: 'no-store' })
    .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
    .then((data) => {
      mergeHistory(hist, data);
      hist.heartbeats = heartbeats;
      onMerged();
    })
    .catch(() => {})
    .finally(() => { hist.fetching = false; });
}
