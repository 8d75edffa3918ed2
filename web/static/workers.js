// The worker card of the worker page (#worker=ID): its state, capacity,
// live gauges, a row per GPU and charts of the chosen time range. Cards are kept and updated in
// place from each snapshot, so nothing flickers.

import { h, fill, known, pct, bytes, gib, celsius, watts, duration, bar, setBar } from './dom.js';
import { refreshHistory } from './history.js';
import { latest, workerOf } from './snapshot.js';
import { color, drawCharts } from './worker_charts.js';

const $ = (id) => document.getElementById(id);
const cards = new Map();  // worker id -> card parts

// Fetches new history points for `w` if its card is on or near the screen,
// and redraws its charts once they are in.
function maybeRefreshHistory(w) {
  const card = cards.get(w.id);
  if (card && !card.visible) return;
  refreshHistory(w, () => {
    const shown = cards.get(w.id);
    const worker = workerOf(w.id);
    if (shown && worker) drawCharts(shown, worker);
  });
}

function gauge(label, kind) {
  const value = h('b', {}, 'n/a');
  const b = bar(kind, null);
  return { root: h('div', {}, h('div', { class: 'gauge-label' }, h('span', {}, label), value), b), value, bar: b };
}

// Charts are kept current only for cards on or near the screen, so a page
// showing a large cluster does not fetch every worker's history each beat.
const onScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const card = entry.target.card;
    card.visible = entry.isIntersecting;
    const w = card.visible && workerOf(card.id);
    if (w) maybeRefreshHistory(w);
  }
}, { rootMargin: '300px' });

function createCard(id) {
  const card = {
    id,
    visible: false,
    pill: h('span', { class: 'pill', 'data-role': 'state' }),
    name: h('span', { class: 'worker-name' }, id),
    age: h('span', { class: 'worker-age', 'data-role': 'age' }),
    sub: h('div', { class: 'worker-sub' }),
    notice: h('div', { class: 'notice bad', hidden: true }),
    cpu: gauge('CPU', 'cpu'),
    mem: gauge('Memory', 'mem'),
    gpu: gauge('GPU mean', ''),
    alloc: gauge('GPUs allocated', ''),
    gpuBody: h('tbody'),
    gpuTable: null,
    charts: h('div', { class: 'charts' }),
    rangeNote: h('p', { class: 'muted small', hidden: true }),
    chartsDrawn: -1,
    chartsAt: 0,
  };
  card.gpuTable = h('table', { class: 'gpus' },
    h('thead', {}, h('tr', {}, h('th', {}, 'GPU'), h('th', {}, 'Utilization'), h('th', {}, 'Memory (GiB)'),
      h('th', {}, 'Temp'), h('th', {}, 'Power'), h('th', {}, 'Task'))),
    card.gpuBody);
  card.root = h('article', { class: 'worker', 'data-worker': id },
    h('div', { class: 'worker-head' }, card.pill, card.name, card.age),
    card.sub, card.notice,
    h('div', { class: 'gauges' }, card.cpu.root, card.mem.root, card.gpu.root, card.alloc.root),
    h('div', { class: 'table-scroll' }, card.gpuTable), card.rangeNote, card.charts);
  card.root.card = card;
  onScreen.observe(card.root);
  return card;
}

function setGauge(g, text, percent) {
  g.value.textContent = text;
  setBar(g.bar, percent);
}

function gpuRow(w, g) {
  const util = g.error ? null : g.utilization_gpu;
  const utilText = h('span', { class: 'util-value', 'data-gpu-util': `${w.id}/${g.index}` }, pct(util));
  const utilBar = bar(known(util) && util >= 90 ? 'hot' : '', util);
  const first = h('td', {}, h('span', { class: 'swatch', style: null }), String(g.index));
  first.firstChild.style.background = color(g.index);
  if (g.error) {
    return h('tr', { 'data-gpu': `${w.id}/${g.index}` }, first,
      h('td', { colspan: 5, class: 'gpu-error' }, `⚠ ${g.healthy ? '' : 'unhealthy: '}${g.error}`));
  }
  const memory = known(g.memory_used_bytes)
    ? `${gib(g.memory_used_bytes)} / ${gib(g.memory_total_bytes)}` : (known(g.memory_total_bytes) ? `n/a / ${gib(g.memory_total_bytes)}` : 'n/a');
  const task = g.allocated_to
    ? h('a', { class: 'task-link mono', href: `#task=${encodeURIComponent(g.allocated_to)}` }, g.allocated_to)
    : h('span', { class: 'muted' }, 'free');
  const health = g.healthy ? null : h('span', { class: 'pill dead', title: 'recovering: not scheduled yet' }, 'unhealthy');
  return h('tr', { 'data-gpu': `${w.id}/${g.index}` }, first,
    h('td', { class: 'util-cell' }, h('div', { class: 'util' }, utilBar, utilText)),
    h('td', {}, memory), h('td', {}, celsius(g.temperature_c)), h('td', {}, watts(g.power_w)),
    h('td', {}, task, health ? ' ' : null, health));
}

function updateCard(card, w) {
  card.root.className = `worker ${w.state}`;
  card.pill.className = `pill ${w.state}`;
  card.pill.textContent = w.state + (w.connected || w.state === 'dead' ? '' : ' · disconnected')
    + (w.draining ? ' · draining' : '') + (w.unhealthy_reason ? ' · takes no tasks' : '');
  card.pill.title = w.unhealthy_reason || (w.draining ? 'drained: no new tasks are placed here' : '');
  const models = w.gpu_models.map((m) => `${m.count} × ${m.name}`).join(', ') || 'no GPU';
  const parts = [w.hostname !== w.id ? w.hostname : null, models, `${w.cpu_cores} cores`,
    `${bytes(w.memory_total_bytes)} RAM`, w.nvml.driver_version ? `driver ${w.nvml.driver_version}` : null];
  card.sub.textContent = parts.filter(Boolean).join(' · ');
  card.notice.hidden = w.nvml.available;
  if (!w.nvml.available) card.notice.textContent = `No GPU telemetry: ${w.nvml.error || 'NVML unavailable'}`;
  setGauge(card.cpu, pct(w.cpu_percent), w.cpu_percent);
  setGauge(card.mem, pct(w.memory_percent), w.memory_percent);
  setGauge(card.gpu, pct(w.gpu_percent), w.gpu_percent);
  setGauge(card.alloc, `${w.gpu_allocated} / ${w.gpu_capacity}`,
    w.gpu_capacity ? (100 * w.gpu_allocated) / w.gpu_capacity : null);
  card.gpuTable.hidden = w.gpus.length === 0;
  fill(card.gpuBody, w.gpus.map((g) => gpuRow(w, g)));
  drawCharts(card, w);
}

// Updates "last heartbeat … ago" on every card from the latest snapshot.
export function tickAges() {
  if (!latest.snapshot) return;
  const elapsed = (performance.now() - latest.receivedAt) / 1000;
  for (const w of latest.snapshot.workers) {
    const card = cards.get(w.id);
    if (!card) continue;
    card.age.textContent = known(w.seconds_since_heartbeat)
      ? `last heartbeat ${duration(w.seconds_since_heartbeat + elapsed)} ago` : 'no heartbeat yet';
  }
}

// Shows `workers` (the snapshot's worker objects, in order): adds, updates
// and removes cards, and tops up the histories of those on screen.
export function renderWorkers(workers) {
  const container = $('workers');
  const seen = new Set();
  workers.forEach((w, i) => {
    seen.add(w.id);
    let card = cards.get(w.id);
    if (!card) {
      card = createCard(w.id);
      cards.set(w.id, card);
    }
    if (container.children[i] !== card.root) container.insertBefore(card.root, container.children[i] || null);
    updateCard(card, w);
  });
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      onScreen.unobserve(card.root);
      card.root.remove();
      cards.delete(id);
    }
  }
  tickAges();
  for (const w of workers) maybeRefreshHistory(w);
}

// Redraws the charts of the cards on screen, so their time axis moves even
// when a worker is silent.
export function redrawVisibleCharts() {
  if (!latest.snapshot) return;
  for (const w of latest.snapshot.workers) {
    const card = cards.get(w.id);
    if (card && card.visible) drawCharts(card, w);
  }
}
