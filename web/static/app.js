// gpulse dashboard: cluster summary, a card per worker with live GPU figures
// and charts of the last hour, the task table with logs, submit and cancel.
//
// Live data: the master pushes a snapshot (GET /api/events, server-sent
// events) whenever the cluster changes; if it refuses the stream (too many
// dashboards open) or the browser cannot hold one, the page polls
// GET /api/dashboard every second instead and tries the stream again later.

import { h, fill, known, na, pct, bytes, gib, celsius, watts, duration, clockTime, bar, setBar, splitCommand } from './dom.js';
import { lineChart } from './chart.js';
import { openLogs, initLogs } from './logs.js';

const PALETTE = ['#58a6ff', '#7ee787', '#f778ba', '#ffa657', '#d2a8ff', '#56d4dd', '#e3b341', '#ff7b72'];
const TOKEN_KEY = 'gpulse.token';
const POLL_MS = 1000;
const STREAM_RETRY_MS = 30000;
const HISTORY_MIN_GAP_MS = 1000;
const CHART_MIN_SPAN_S = 300;

const state = {
  snapshot: null,
  receivedAt: 0,  // performance.now() when the snapshot arrived
  cards: new Map(),  // worker id -> card parts
  history: new Map(),  // worker id -> merged history columns
  rows: new Map(),  // task id -> table row parts
  rowOrder: '',
};

const $ = (id) => document.getElementById(id);
const color = (index) => PALETTE[index % PALETTE.length];
const isTerminal = (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

// Seconds since the epoch on the master's clock, as of now.
function serverNow() {
  if (!state.snapshot) return Date.now() / 1000;
  return state.snapshot.now + (performance.now() - state.receivedAt) / 1000;
}

// ---- live connection ----------------------------------------------------

let pollTimer = null;
let source = null;

function setMode(mode, text) {
  const el = $('conn');
  el.dataset.mode = mode;
  el.textContent = text;
}

function startStream() {
  if (!window.EventSource || new URLSearchParams(location.search).get('live') === 'poll') {
    startPolling();
    return;
  }
  source = new EventSource('/api/events');
  source.addEventListener('snapshot', (event) => {
    stopPolling();
    setMode('sse', 'live');
    apply(JSON.parse(event.data));
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. 503: too many streams): poll, and try again later.
      source.close();
      source = null;
      startPolling();
      setTimeout(startStream, STREAM_RETRY_MS);
    } else {
      setMode('offline', 'reconnecting…');
    }
  };
}

function startPolling() {
  if (pollTimer) return;
  const poll = async () => {
    try {
      const res = await fetch('/api/dashboard', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      apply(await res.json());
      setMode('polling', 'live (polling every second)');
    } catch (err) {
      setMode('offline', `master unreachable (${err.message})`);
    }
  };
  poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

function apply(snapshot) {
  state.snapshot = snapshot;
  state.receivedAt = performance.now();
  renderSummary(snapshot);
  renderWorkers(snapshot.workers);
  renderTasks(snapshot.tasks, snapshot.tasks_total);
  for (const w of snapshot.workers) maybeRefreshHistory(w);
}

// ---- summary --------------------------------------------------------------

function chip(kind, label, value) {
  return h('span', { class: `chip ${kind}` }, h('b', {}, String(value)), ` ${label}`);
}

function tile(title, main, ...chips) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-title' }, title), h('div', { class: 'tile-main' }, main),
    h('div', { class: 'chips' }, chips));
}

function renderSummary(snap) {
  const { workers: ws, gpus, tasks } = snap.summary;
  const total = ws.healthy + ws.suspect + ws.dead;
  let sum = 0;
  let n = 0;
  for (const w of snap.workers) {
    if (w.state === 'dead') continue;
    for (const g of w.gpus) if (known(g.utilization_gpu) && !g.error) { sum += g.utilization_gpu; n++; }
  }
  const running = tasks.running + tasks.assigned;
  fill($('summary'),
    tile('Workers', String(total), chip('ok', 'healthy', ws.healthy), chip('warn', 'suspect', ws.suspect),
      chip('bad', 'dead', ws.dead)),
    tile('GPUs', h('span', {}, String(gpus.allocated), h('span', { class: 'of' }, ` / ${gpus.total} allocated`)),
      chip('info', 'busy (≥ 50%)', gpus.busy), chip(gpus.unhealthy ? 'bad' : '', 'unhealthy', gpus.unhealthy),
      chip('', 'free', Math.max(0, gpus.total - gpus.allocated))),
    tile('GPU utilization', n ? pct(sum / n) : na(), chip('', 'GPUs reporting', n),
      chip('', 'heartbeats received', snap.summary.heartbeats_received)),
    tile('Tasks', h('span', {}, String(running), h('span', { class: 'of' }, ' running')),
      chip('info', 'queued', tasks.queued), chip('ok', 'succeeded', tasks.succeeded),
      chip('bad', 'failed', tasks.failed), chip('', 'cancelled', tasks.cancelled)));
  $('workers-count').textContent = total ? `· ${total}` : '';
}

// ---- worker cards ---------------------------------------------------------

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
    const w = card.visible && state.snapshot && state.snapshot.workers.find((x) => x.id === card.id);
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
    card.gpuTable, card.charts);
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
  const task = g.allocated_to ? h('span', { class: 'task-link mono' }, g.allocated_to) : h('span', { class: 'muted' }, 'free');
  const health = g.healthy ? null : h('span', { class: 'pill dead', title: 'recovering: not scheduled yet' }, 'unhealthy');
  return h('tr', { 'data-gpu': `${w.id}/${g.index}` }, first,
    h('td', { class: 'util-cell' }, h('div', { class: 'util' }, utilBar, utilText)),
    h('td', {}, memory), h('td', {}, celsius(g.temperature_c)), h('td', {}, watts(g.power_w)),
    h('td', {}, task, health ? ' ' : null, health));
}

function updateCard(card, w) {
  card.root.className = `worker ${w.state}`;
  card.pill.className = `pill ${w.state}`;
  card.pill.textContent = w.state + (w.connected || w.state === 'dead' ? '' : ' · disconnected');
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

function renderWorkers(workers) {
  const container = $('workers');
  const seen = new Set();
  workers.forEach((w, i) => {
    seen.add(w.id);
    let card = state.cards.get(w.id);
    if (!card) {
      card = createCard(w.id);
      state.cards.set(w.id, card);
    }
    if (container.children[i] !== card.root) container.insertBefore(card.root, container.children[i] || null);
    updateCard(card, w);
  });
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) {
      onScreen.unobserve(card.root);
      card.root.remove();
      state.cards.delete(id);
    }
  }
  $('no-workers').hidden = workers.length > 0;
  tickAges();
}

function tickAges() {
  if (!state.snapshot) return;
  const elapsed = (performance.now() - state.receivedAt) / 1000;
  for (const w of state.snapshot.workers) {
    const card = state.cards.get(w.id);
    if (!card) continue;
    card.age.textContent = known(w.seconds_since_heartbeat)
      ? `last heartbeat ${duration(w.seconds_since_heartbeat + elapsed)} ago` : 'no heartbeat yet';
  }
}

// ---- history and charts -----------------------------------------------------

function historyOf(id) {
  let hist = state.history.get(id);
  if (!hist) {
    hist = { t: [], host: { cpu_percent: [], memory_percent: [], gpu_percent: [] }, gpus: new Map(),
      window: 3600, version: 0, fetching: false, fetchedAt: 0, heartbeats: -1 };
    state.history.set(id, hist);
  }
  return hist;
}

function maybeRefreshHistory(w) {
  const card = state.cards.get(w.id);
  if (card && !card.visible) return;
  const hist = historyOf(w.id);
  if (hist.fetching || w.heartbeats === hist.heartbeats) return;
  if (performance.now() - hist.fetchedAt < HISTORY_MIN_GAP_MS) return;
  hist.fetching = true;
  hist.fetchedAt = performance.now();
  const heartbeats = w.heartbeats;
  const since = hist.t.length ? `?since=${hist.t[hist.t.length - 1]}` : '';
  fetch(`/api/workers/${encodeURIComponent(w.id)}/history${since}`, { cache: 'no-store' })
    .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
    .then((data) => {
      mergeHistory(hist, data);
      hist.heartbeats = heartbeats;
      const card = state.cards.get(w.id);
      const worker = state.snapshot && state.snapshot.workers.find((x) => x.id === w.id);
      if (card && worker) drawCharts(card, worker);
    })
    .catch(() => {})
    .finally(() => { hist.fetching = false; });
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
    for (const key of ['utilization_gpu', 'memory_used_bytes', 'temperature_c', 'power_w']) mine[key].push(...g[key]);
  }
  for (const [index, mine] of hist.gpus) {
    if (present.has(index)) continue;
    for (const key of ['utilization_gpu', 'memory_used_bytes', 'temperature_c', 'power_w']) {
      mine[key].push(...new Array(added).fill(null));
    }
  }
  // Keep the window only.
  const oldest = (hist.t.length ? hist.t[hist.t.length - 1] : 0) - hist.window;
  let drop = 0;
  while (drop < hist.t.length && hist.t[drop] < oldest) drop++;
  if (drop) {
    hist.t.splice(0, drop);
    for (const key of Object.keys(hist.host)) hist.host[key].splice(0, drop);
    for (const mine of hist.gpus.values()) {
      for (const key of ['utilization_gpu', 'memory_used_bytes', 'temperature_c', 'power_w']) mine[key].splice(0, drop);
    }
  }
  if (added || drop) hist.version++;
}

function drawCharts(card, w) {
  const hist = historyOf(w.id);
  // Redraw when new points arrived, and every 15 s so the time axis moves.
  if (card.chartsDrawn === hist.version && performance.now() - card.chartsAt < 15000) return;
  card.chartsDrawn = hist.version;
  card.chartsAt = performance.now();
  // The last hour (the history window); while there is less than that, the
  // last 5 minutes or since the first point, so a new worker's lines are
  // not squeezed against the right edge.
  const tMax = serverNow();
  const first = hist.t.length ? hist.t[0] : tMax;
  const tMin = Math.max(tMax - hist.window, Math.min(first, tMax - CHART_MIN_SPAN_S));
  const base = { t: hist.t, tMin, tMax };
  const gpus = [...hist.gpus.values()].sort((a, b) => a.index - b.index);
  if (gpus.length === 0) {
    fill(card.charts, lineChart({ ...base, title: 'Host CPU and memory (%)', yMax: 100, format: pct,
      series: [{ label: 'CPU', color: PALETTE[0], values: hist.host.cpu_percent },
        { label: 'memory', color: PALETTE[4], values: hist.host.memory_percent }] }));
    return;
  }
  const per = (key, map = (v) => v) => gpus.map((g) => ({ label: `GPU${g.index}`, color: color(g.index),
    values: g[key].map((v) => (known(v) ? map(v) : null)) }));
  const totals = gpus.map((g) => g.memory_total_bytes).filter(known);
  const memTop = totals.length ? Math.max(...totals) / 1024 ** 3 : undefined;
  fill(card.charts,
    lineChart({ ...base, title: 'Utilization (%)', yMax: 100, format: pct, series: per('utilization_gpu') }),
    lineChart({ ...base, title: 'Memory used (GiB)', yMax: memTop, format: (v) => (known(v) ? `${v.toFixed(1)} GiB` : 'n/a'),
      series: per('memory_used_bytes', (v) => v / 1024 ** 3) }),
    lineChart({ ...base, title: 'Temperature (°C)', format: celsius, series: per('temperature_c') }),
    lineChart({ ...base, title: 'Power (W)', format: watts, series: per('power_w') }));
}

// ---- tasks ----------------------------------------------------------------

function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

async function authorizedPost(path, body) {
  if (!token()) {
    openTokenDialog('Paste the cluster token first.');
    throw new Error('no cluster token set');
  }
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token()}` },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) openTokenDialog(data.error || 'The master refused the token.');
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

function createRow(t) {
  const row = {
    root: h('tr', { 'data-task': t.id }),
    cells: Array.from({ length: 9 }, () => h('td')),
    logs: h('button', { class: 'button small', type: 'button' }, 'Logs'),
    cancel: h('button', { class: 'button small danger', type: 'button', 'data-role': 'cancel' }, 'Cancel'),
    armed: null,
    task: t,
  };
  row.cells[1].className = 'cmd';
  row.root.append(...row.cells, h('td', { class: 'actions' }, row.logs, ' ', row.cancel));
  row.logs.addEventListener('click', () => openLogs(row.task));
  row.cancel.addEventListener('click', () => onCancel(row));
  return row;
}

// Cancel asks for a second click within 3 s instead of a modal.
async function onCancel(row) {
  if (!row.armed) {
    row.cancel.textContent = 'Confirm cancel';
    row.armed = setTimeout(() => { row.armed = null; row.cancel.textContent = 'Cancel'; }, 3000);
    return;
  }
  clearTimeout(row.armed);
  row.armed = null;
  row.cancel.disabled = true;
  row.cancel.textContent = 'Cancelling…';
  try {
    await authorizedPost(`/api/tasks/${encodeURIComponent(row.task.id)}/cancel`, {});
  } catch (err) {
    row.cancel.disabled = false;
    row.cancel.textContent = 'Cancel';
    row.cancel.title = err.message;
    alertResult(`Cancel ${row.task.id}: ${err.message}`, false);
  }
}

function updateRow(row, t) {
  row.task = t;
  const c = row.cells;
  const now = serverNow();
  fill(c[0], h('span', { class: 'mono' }, t.id));
  const command = t.argv.join(' ');
  fill(c[1], t.name ? h('span', { class: 'name' }, t.name) : null, h('span', { class: 'mono muted' }, command));
  c[1].title = command;
  fill(c[2], h('span', { class: `pill ${t.state}`, 'data-role': 'task-state' }, t.state),
    t.message ? h('div', { class: 'task-message' }, t.message) : null);
  fill(c[3], t.worker || h('span', { class: 'muted' }, '—'));
  fill(c[4], t.gpu_indices.length ? t.gpu_indices.join(', ')
    : h('span', { class: 'muted' }, t.gpus_requested ? `${t.gpus_requested} wanted` : '—'));
  fill(c[5], `${t.attempts} / ${t.max_attempts}`);
  fill(c[6], clockTime(t.submitted_at));
  fill(c[7], known(t.started_at) ? duration((known(t.finished_at) ? t.finished_at : now) - t.started_at) : '');
  fill(c[8], known(t.exit_code) ? String(t.exit_code) : '');
  if (isTerminal(t.state)) {
    row.cancel.hidden = true;
  } else {
    row.cancel.hidden = false;
    if (!row.armed && !row.cancel.disabled) row.cancel.textContent = 'Cancel';
  }
}

function renderTasks(tasks, total) {
  const body = $('tasks').tBodies[0];
  const ordered = [...tasks].reverse();  // newest first
  const seen = new Set();
  for (const t of ordered) {
    seen.add(t.id);
    let row = state.rows.get(t.id);
    if (!row) {
      row = createRow(t);
      state.rows.set(t.id, row);
    }
    updateRow(row, t);
  }
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) {
      row.root.remove();
      state.rows.delete(id);
    }
  }
  // Re-order only when the order changed, so a click is never interrupted.
  const order = ordered.map((t) => t.id).join('\n');
  if (order !== state.rowOrder) {
    state.rowOrder = order;
    body.append(...ordered.map((t) => state.rows.get(t.id).root));
  }
  $('no-tasks').hidden = tasks.length > 0;
  $('tasks-count').textContent = total ? `· ${total}` : '';
  const more = $('tasks-more');
  more.hidden = total <= tasks.length;
  more.textContent = `Showing the ${tasks.length} newest and unfinished of ${total} tasks; gpulse tasks --json lists all.`;
}

// ---- submit form and token --------------------------------------------------

function alertResult(text, ok) {
  const el = $('submit-result');
  el.className = `form-result ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
}

function initSubmit() {
  const form = $('submit-form');
  $('submit-toggle').addEventListener('click', () => {
    form.hidden = !form.hidden;
    if (!form.hidden) form.elements.command.focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = form.elements;
    let argv;
    try {
      argv = splitCommand(f.command.value.trim());
    } catch (err) {
      alertResult(`Command: ${err.message}`, false);
      return;
    }
    if (!argv.length) {
      alertResult('Command: enter the program to run', false);
      return;
    }
    const body = { argv, gpus: Number(f.gpus.value || 0), cpus: Number(f.cpus.value || 1),
      max_attempts: Number(f.max_attempts.value || 3) };
    if (f.name.value.trim()) body.name = f.name.value.trim();
    if (f.memory.value.trim()) body.memory = f.memory.value.trim();
    try {
      const task = await authorizedPost('/api/tasks', body);
      alertResult(`Submitted ${task.id}`, true);
      f.command.value = '';
      f.name.value = '';
    } catch (err) {
      alertResult(err.message, false);
    }
  });
}

function openTokenDialog(message) {
  const dialog = $('token-dialog');
  const input = $('token-input');
  input.value = token();
  input.placeholder = message || 'paste the token';
  if (!dialog.open) dialog.showModal();
  input.focus();
}

function initToken() {
  const button = $('token-button');
  const refresh = () => { button.textContent = token() ? 'Cluster token ✓' : 'Cluster token'; };
  refresh();
  button.addEventListener('click', () => openTokenDialog());
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : 'save';
    if (action === 'save') {
      const value = $('token-input').value.trim();
      if (value) localStorage.setItem(TOKEN_KEY, value);
    } else if (action === 'forget') {
      localStorage.removeItem(TOKEN_KEY);
    }
    $('token-dialog').close();
    refresh();
  });
}

// ---- start ------------------------------------------------------------------

initToken();
initSubmit();
initLogs();
startStream();
setInterval(tickAges, 500);
// Move the charts' time axis even when a worker is silent.
setInterval(() => {
  if (!state.snapshot) return;
  for (const w of state.snapshot.workers) {
    const card = state.cards.get(w.id);
    if (card && card.visible) drawCharts(card, w);
  }
}, 5000);
