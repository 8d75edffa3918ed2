// The task table: newest first, a row per task kept and updated in place,
// with its logs and a cancel button for tasks that have not finished; a
// queued task says why it waits (its pending_reason).

import { h, fill, known, duration, clockTime } from './dom.js';
import { openLogs } from './logs.js';
import { serverNow } from './snapshot.js';
import { alertResult } from './submit.js';
import { authorizedPost } from './token.js';

const $ = (id) => document.getElementById(id);
const rows = new Map();  // task id -> table row parts
let rowOrder = '';

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
    t.message ? h('div', { class: 'task-message' }, t.message) : null,
    t.pending_reason ? h('div', { class: 'task-message', 'data-role': 'pending-reason' }, `pending: ${t.pending_reason}`)
      : null);
  fill(c[3], t.worker || h('span', { class: 'muted' }, '—'));
  fill(c[4], t.gpu_indices.length ? t.gpu_indices.join(', ')
    : h('span', { class: 'muted' }, t.gpus_requested ? `${t.gpus_requested} wanted` : '—'));
  fill(c[5], `${t.attempts} / ${t.max_attempts}`);
  fill(c[6], clockTime(t.submitted_at));
  fill(c[7], known(t.started_at) ? duration((known(t.finished_at) ? t.finished_at : now) - t.started_at) : '');
  fill(c[8], known(t.exit_code) ? String(t.exit_code) : '');
  if (t.finished) {
    row.cancel.hidden = true;
  } else {
    row.cancel.hidden = false;
    if (!row.armed && !row.cancel.disabled) row.cancel.textContent = 'Cancel';
  }
}

// Shows `tasks` (the snapshot's task objects, oldest first) out of `total`.
export function renderTasks(tasks, total) {
  const body = $('tasks').tBodies[0];
  const ordered = [...tasks].reverse();  // newest first
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
  more.textContent = `Showing the ${tasks.length} newest and unfinished of ${total} tasks; gpulse tasks --json lists all.`;
}
