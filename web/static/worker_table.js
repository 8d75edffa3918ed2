// The worker table on the main page: a row per worker (state, GPUs
// allocated of total, mean GPU utilization, memory, hottest GPU, power,
// heartbeat age), sortable by any column; a row opens the worker's page.

import { h, fill, known, pct, duration } from './dom.js';

const $ = (id) => document.getElementById(id);
const STATE_ORDER = { dead: 0, suspect: 1, healthy: 2 };

function maxOf(w, field) {
  const values = w.gpus.map((g) => g[field]).filter(known);
  return values.length ? Math.max(...values) : null;
}
function sumOf(w, field) {
  const values = w.gpus.map((g) => g[field]).filter(known);
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

// The columns: header, sort key, cell text.
const COLUMNS = [
  ['Worker', (w) => w.id, (w) => h('a', { href: `#worker=${encodeURIComponent(w.id)}`, class: 'mono' }, w.id)],
  ['State', (w) => STATE_ORDER[w.state] ?? 3,
    (w) => h('span', { class: `pill ${w.state}` }, w.state + (w.draining ? ' · draining' : ''))],
  ['GPUs', (w) => w.gpu_capacity - w.gpu_allocated, (w) => `${w.gpu_allocated} / ${w.gpu_capacity}`],
  ['GPU util', (w) => w.gpu_percent, (w) => pct(w.gpu_percent)],
  ['Memory', (w) => w.memory_percent, (w) => pct(w.memory_percent)],
  ['Temp (max)', (w) => maxOf(w, 'temperature_c'), (w) => (known(maxOf(w, 'temperature_c')) ? `${Math.round(maxOf(w, 'temperature_c'))} °C` : 'n/a')],
  ['Power', (w) => sumOf(w, 'power_w'), (w) => (known(sumOf(w, 'power_w')) ? `${Math.round(sumOf(w, 'power_w'))} W` : 'n/a')],
  ['Heartbeat', (w) => w.seconds_since_heartbeat,
    (w) => (known(w.seconds_since_heartbeat) ? `${duration(w.seconds_since_heartbeat)} ago` : 'never')],
];

let sortColumn = 0;
let sortDescending = false;
let lastWorkers = [];

function compare(a, b) {
  const key = COLUMNS[sortColumn][1];
  const x = key(a);
  const y = key(b);
  // Unknown figures last, whichever the direction.
  if (!known(x) && typeof x !== 'string') return known(y) || typeof y === 'string' ? 1 : 0;
  if (!known(y) && typeof y !== 'string') return -1;
  const order = x < y ? -1 : x > y ? 1 : 0;
  return sortDescending ? -order : order;
}

// The table is rebuilt at most every 2 s (and at once after a click on a
// header): with hundreds of workers, every event would be too often.
const MIN_REBUILD_MS = 2000;
let builtAt = -Infinity;
let pending = null;

export function renderWorkerTable(workers, now = false) {
  lastWorkers = workers;
  const wait = builtAt + MIN_REBUILD_MS - performance.now();
  if (!now && wait > 0) {
    if (!pending) pending = setTimeout(() => { pending = null; renderWorkerTable(lastWorkers, true); }, wait);
    return;
  }
  builtAt = performance.now();
  const head = $('worker-table').tHead.rows[0];
  if (!head.cells.length) {
    COLUMNS.forEach(([title], i) => {
      const th = h('th', { 'data-sort': i, tabindex: 0, 'aria-sort': 'none' }, title);
      th.addEventListener('click', () => {
        if (sortColumn === i) sortDescending = !sortDescending;
        else { sortColumn = i; sortDescending = i >= 3; }
        renderWorkerTable(lastWorkers, true);
      });
      head.append(th);
    });
  }
  [...head.cells].forEach((th, i) => th.setAttribute('aria-sort',
    i !== sortColumn ? 'none' : sortDescending ? 'descending' : 'ascending'));
  const rows = [...workers].sort(compare).map((w) =>
    h('tr', { 'data-worker-row': w.id, class: w.state }, COLUMNS.map(([, , cell]) => h('td', {}, cell(w)))));
  fill($('worker-table').tBodies[0], rows);
  $('no-workers').hidden = workers.length > 0;
}
