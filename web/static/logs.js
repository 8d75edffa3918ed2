// The log viewer: a task's stdout or stderr from GET /api/tasks/{id}/logs,
// followed once a second while the task runs.

const MAX_SHOWN = 2 * 1024 * 1024;  // characters kept in the viewer
const FOLLOW_MS = 1000;

const view = { task: null, stream: 'stdout', offset: 0, timer: null, generation: 0 };
const $ = (id) => document.getElementById(id);

function isTerminal(s) {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}

function stop() {
  if (view.timer) clearTimeout(view.timer);
  view.timer = null;
}

async function fetchMore(generation) {
  if (generation !== view.generation) return;
  const { task, stream } = view;
  const status = $('logs-status');
  try {
    const res = await fetch(`/api/tasks/${encodeURIComponent(task.id)}/logs?stream=${stream}&offset=${view.offset}`,
      { cache: 'no-store' });
    if (generation !== view.generation) return;
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      status.textContent = body.error || `HTTP ${res.status}`;
      return;
    }
    const text = await res.text();
    if (generation !== view.generation) return;
    const next = Number(res.headers.get('X-Gpulse-Next-Offset'));
    const state = res.headers.get('X-Gpulse-Task-State') || '';
    view.offset = Number.isFinite(next) ? next : view.offset + text.length;
    const body = $('logs-body');
    if (text) {
      const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
      let shown = body.textContent + text;
      if (shown.length > MAX_SHOWN) shown = shown.slice(shown.length - MAX_SHOWN);
      body.textContent = shown;
      if (atBottom) body.scrollTop = body.scrollHeight;
    }
    const finished = isTerminal(state);
    status.textContent = `${view.offset} bytes · task ${state}${finished ? '' : ' · following'}`;
    if (!body.textContent) body.dataset.empty = `(no ${stream} output${finished ? '' : ' yet'})`;
    if (!finished || text) view.timer = setTimeout(() => fetchMore(generation), finished ? 0 : FOLLOW_MS);
  } catch (err) {
    if (generation === view.generation) {
      status.textContent = `cannot reach the master: ${err.message}; retrying`;
      view.timer = setTimeout(() => fetchMore(generation), FOLLOW_MS * 3);
    }
  }
}

function show(stream) {
  stop();
  view.stream = stream;
  view.offset = 0;
  view.generation++;
  $('logs-body').textContent = '';
  $('logs-status').textContent = 'loading…';
  for (const tab of document.querySelectorAll('#logs-dialog .tab')) {
    tab.setAttribute('aria-selected', String(tab.dataset.stream === stream));
  }
  fetchMore(view.generation);
}

export function openLogs(task) {
  view.task = task;
  const title = $('logs-title');
  title.textContent = `Logs of ${task.id}${task.name ? ` (${task.name})` : ''}`;
  const dialog = $('logs-dialog');
  if (!dialog.open) dialog.showModal();
  show('stdout');
}

export function initLogs() {
  const dialog = $('logs-dialog');
  for (const tab of dialog.querySelectorAll('.tab')) tab.addEventListener('click', () => show(tab.dataset.stream));
  dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    stop();
    view.generation++;
  });
}
