// The log viewer: a task's stdout or stderr from GET /api/tasks/{id}/logs,
// followed once a second while the task runs. It shows the latest attempt;
// when the task is retried while the viewer is open, the new attempt's
// output follows a "[gpulse: attempt N]" line once the old one is shown
// whole.

import { authorizedFetch } from './token.js';

const MAX_SHOWN = 2 * 1024 * 1024;  // characters kept in the viewer
const FOLLOW_MS = 1000;

// attempt: the attempt shown, 0 until the master has named one.
const view = { task: null, stream: 'stdout', attempt: 0, offset: 0, timer: null, generation: 0 };
const $ = (id) => document.getElementById(id);

function stop() {
  if (view.timer) clearTimeout(view.timer);
  view.timer = null;
}

async function errorOf(res) {
  const body = await res.json().catch(() => ({}));
  return body.error || `HTTP ${res.status}`;
}

function appendText(text) {
  const body = $('logs-body');
  const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
  let shown = body.textContent + text;
  if (shown.length > MAX_SHOWN) shown = shown.slice(shown.length - MAX_SHOWN);
  body.textContent = shown;
  if (atBottom) body.scrollTop = body.scrollHeight;
}

async function fetchMore(generation) {
  if (generation !== view.generation) return;
  const { task, stream } = view;
  const status = $('logs-status');
  const path = `/api/tasks/${encodeURIComponent(task.id)}`;
  const again = (ms) => { view.timer = setTimeout(() => fetchMore(generation), ms); };
  try {
    // The task as it was before this read: once it had finished (or moved
    // past the attempt shown) and the read brings nothing, that is all.
    const taskRes = await authorizedFetch(path, { cache: 'no-store' });
    if (generation !== view.generation) return;
    if (!taskRes.ok) {
      status.textContent = await errorOf(taskRes);
      return;
    }
    const now = await taskRes.json();
    const attempt = view.attempt ? `&attempt=${view.attempt}` : '';
    const res = await authorizedFetch(`${path}/logs?stream=${stream}&offset=${view.offset}${attempt}`, { cache: 'no-store' });
    if (generation !== view.generation) return;
    if (!res.ok) {
      status.textContent = await errorOf(res);
      return;
    }
    const text = await res.text();
    if (generation !== view.generation) return;
    const next = Number(res.headers.get('X-Gpulse-Next-Offset'));
    view.offset = Number.isFinite(next) ? next : view.offset + text.length;
    view.attempt = Number(res.headers.get('X-Gpulse-Attempt')) || view.attempt;
    if (text) appendText(text);
    const newer = view.attempt > 0 && now.attempts > view.attempt;
    if (!text && newer) {
      view.attempt = now.attempts;
      view.offset = 0;
      appendText(`\n[gpulse: attempt ${view.attempt}]\n`);
      again(0);
      return;
    }
    const done = now.finished;
    status.textContent = `${view.offset} bytes · attempt ${view.attempt || '—'} of ${now.max_attempts}`
      + ` · task ${now.state}${done ? '' : ' · following'}`;
    const body = $('logs-body');
    if (!body.textContent) body.dataset.empty = `(no ${stream} output${done ? '' : ' yet'})`;
    if (!done || text) again(done ? 0 : FOLLOW_MS);
  } catch (err) {
    if (generation === view.generation) {
      status.textContent = `cannot reach the master: ${err.message}; retrying`;
      again(FOLLOW_MS * 3);
    }
  }
}

function show(stream) {
  stop();
  view.stream = stream;
  view.attempt = 0;
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
