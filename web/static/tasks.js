// The task table: newest first, 50 to a page, a row per task kept and
// updated in place, with its logs and a cancel button for tasks that have
// not finished; a queued task says why it waits (its pending_reason). The
// task's id opens its page (#task=ID).
//
// Paging is over the tasks the live snapshot carries (every placed task and
// the newest 200); older ones are listed by `gpulse tasks` and
// GET /api/tasks.

import { h, fill, known, duration, dateTime, requested } from './dom.js';
import { openLogs } from './logs.js';
import { serverNow } from './snapshot.js';
import { alertResult } from './submit.js';
import { authorizedPost } from './token.js';

const $ = (id) => document.getElementById(id);
const rows = new Map();  // task id -> table row parts
let rowOrder = '';
const PAGE_SIZE = 50;
let page = 0;
let lastTasks = [];
let lastTotal = 0;

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

// Shows `tasks` (the snapshot's task objects, oldest first) out of `total`.
export function renderTasks(tasks, total) {
  lastTasks = tasks;
  lastTotal = total;
  const body = $('tasks').tBodies[0];
  const pages = Math.max(1, Math.ceil(tasks.length / PAGE_SIZE));
  page = Math.min(page, pages - 1);
  const ordered = [...tasks].reverse().slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);  // newest first
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
  $('no-tasks').hidden = tasks.length > 0;
  $('tasks-count').textContent = total ? `· ${total}` : '';
  const more = $('tasks-more');
  more.hidden = total <= tasks.length;
  more.textContent = `The page holds the ${tasks.length} newest and running of ${total} tasks; gpulse tasks --all lists all.`;
  $('tasks-page').textContent = `page ${page + 1} of ${pages}`;
  $('tasks-prev').disabled = page === 0;
  $('tasks-next').disabled = page >= pages - 1;
  $('tasks-pager').hidden = pages <= 1;
}

export function initTasks() {
  $('tasks-prev').addEventListener('click', () => { page = Math.max(0, page - 1); renderTasks(lastTasks, lastTotal); });
  $('tasks-next').addEventListener('click', () => { page += 1; renderTasks(lastTasks, lastTotal); });
}
