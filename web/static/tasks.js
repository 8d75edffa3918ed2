// The task table: newest first, 50 to a page, a row per task kept and
// updated in place, with its logs and a cancel button for tasks that have
// not finished; a queued task says why it waits (its pending_reason). The
// task's id opens its page (#task=ID).
//
// The first page is live: the newest 50 of the tasks the live snapshot
// carries (every placed task and the newest 200 in the master's memory, so
// the newest 50 are there unless they left memory; then it too comes from
// the API). Older pages come from the API's pages (GET /api/tasks?limit=50
// with the cursor the page before gave), which reach every task, also the
// finished ones the master keeps only in its database; such a page is
// fetched again at most every 5 s while it is shown.

import { h, fill, known, duration, dateTime, requested } from './dom.js';
import { openLogs } from './logs.js';
import { serverNow } from './snapshot.js';
import { alertResult } from './submit.js';
import { authorizedFetch, authorizedPost } from './token.js';

const $ = (id) => document.getElementById(id);
const rows = new Map();  // task id -> table row parts
let rowOrder = '';
const PAGE_SIZE = 50;
const REFETCH_MS = 5000;
let page = 0;
let lastTasks = [];
let lastTotal = 0;
// The API's pages: cursors[i] opens page i (cursors[0] is unused: page 0
// is the snapshot's); the shown older page, its next cursor and when it
// was fetched.
let cursors = [null];
let older = null;  // {page, tasks, next, at}: the page last fetched
let loading = false;  // a fetch is under way
let requests = 0;  // fetches started; only the latest one's answer is shown

function createRow(t) {
  const row = {
    root: h('tr', { 'data-task': t.id }),
    cells: Array.from({ length: 10 }, () => h('td')),
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
  fill(c[0], h('a', { class: 'mono', href: `#task=${encodeURIComponent(t.id)}` }, t.id));
  const command = t.argv.join(' ');
  fill(c[1], t.name ? h('span', { class: 'name' }, t.name) : null, h('span', { class: 'mono muted' }, command));
  c[1].title = command;
  fill(c[2], h('span', { class: `pill ${t.state}`, 'data-role': 'task-state' }, t.state),
    t.message ? h('div', { class: 'task-message' }, t.message) : null,
    t.pending_reason ? h('div', { class: 'task-message', 'data-role': 'pending-reason' }, `pending: ${t.pending_reason}`)
      : null);
  fill(c[3], requested(t));
  fill(c[4], t.worker ? h('a', { href: `#worker=${encodeURIComponent(t.worker)}` }, t.worker) : h('span', { class: 'muted' }, '—'));
  fill(c[5], t.gpu_indices.length ? t.gpu_indices.join(', ') : h('span', { class: 'muted' }, '—'));
  fill(c[6], `${t.attempts} / ${t.max_attempts}`);
  fill(c[7], dateTime(t.submitted_at));
  fill(c[8], known(t.started_at) ? duration((known(t.finished_at) ? t.finished_at : now) - t.started_at) : '');
  fill(c[9], known(t.exit_code) ? String(t.exit_code) : '');
  if (t.finished) {
    row.cancel.hidden = true;
  } else {
    row.cancel.hidden = false;
    if (!row.armed && !row.cancel.disabled) row.cancel.textContent = 'Cancel';
  }
}

// One page of the API: {tasks, next_cursor}. Rejects with its error.
async function fetchPage(cursor) {
  let path = `/api/tasks?limit=${PAGE_SIZE}`;
  if (cursor) path += `&cursor=${encodeURIComponent(cursor)}`;
  const res = await authorizedFetch(path);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

// Fetches page `to` from the API and shows it. Page 1 starts where the
// API's first page ends. The latest call wins: a click is never dropped
// for a refetch under way, and an older answer never replaces a newer one.
async function load(to) {
  const mine = ++requests;
  loading = true;
  try {
    if (to === 1 && !cursors[1]) {
      const first = await fetchPage(null);
      if (mine !== requests) return;
      cursors[1] = first.next_cursor || null;
    }
    if (to > 0 && !cursors[to]) return;
    const data = await fetchPage(to === 0 ? null : cursors[to]);
    if (mine !== requests) return;
    page = to;
    cursors[to + 1] = data.next_cursor || null;
    cursors.length = to + 2;
    older = { page: to, tasks: data.tasks, next: data.next_cursor || null, at: Date.now() };
  } catch (err) {
    if (mine !== requests) return;
    older = { page, tasks: older && older.page === page ? older.tasks : [], next: null, at: Date.now() };
    alertResult(`Tasks: ${err.message}`, false);
  } finally {
    if (mine === requests) loading = false;
  }
  if (mine === requests) renderTasks(lastTasks, lastTotal);
}

function goTo(to) {
  if (to > 0) {
    load(to);
    return;
  }
  ++requests;  // an answer still on its way is for another page
  loading = false;
  page = 0;
  older = null;
  renderTasks(lastTasks, lastTotal);
}

// Shows `tasks` (the snapshot's task objects, oldest first) out of `total`
// (every task the master knows, stored ones included): the live page, or
// a page fetched from the API (older pages; and the first page too when
// the snapshot lacks some of the newest 50, which happens once they have
// left the master's memory).
export function renderTasks(tasks, total) {
  lastTasks = tasks;
  lastTotal = total;
  const live = page === 0 && tasks.length >= Math.min(PAGE_SIZE, total);
  const shown = !live && older && older.page === page ? older : null;
  if (!live && !loading && (!shown || Date.now() - shown.at > REFETCH_MS)) {
    if (shown) shown.at = Date.now();
    load(page);  // in the background; renders again when it has the page
  }
  if (live) cursors = [null];  // the first page moves: find page 1's start again when asked
  const body = $('tasks').tBodies[0];
  const ordered = live ? [...tasks].reverse().slice(0, PAGE_SIZE) : shown ? shown.tasks : [];  // newest first
  const seen = new Set();
  for (const t of ordered) {
    seen.add(t.id);
    let row = rows.get(t.id);
    if (!row) {
      row = createRow(t);
      rows.set(t.id, row);
    }
    updateRow(row, t);
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.root.remove();
      rows.delete(id);
    }
  }
  // Re-order only when the order changed, so a click is never interrupted.
  const order = ordered.map((t) => t.id).join('\n');
  if (order !== rowOrder) {
    rowOrder = order;
    body.append(...ordered.map((t) => rows.get(t.id).root));
  }
  $('no-tasks').hidden = tasks.length > 0 || total > 0;
  $('tasks-count').textContent = total ? `· ${total}` : '';
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  $('tasks-page').textContent = `page ${page + 1} of ${pages}`;
  $('tasks-prev').disabled = page === 0;
  $('tasks-next').disabled = live ? total <= PAGE_SIZE : !(shown && shown.next);
  $('tasks-pager').hidden = pages <= 1 && page === 0;
}

export function initTasks() {
  $('tasks-prev').addEventListener('click', () => goTo(page - 1));
  $('tasks-next').addEventListener('click', () => goTo(page + 1));
}
