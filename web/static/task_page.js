// The task page (#task=ID): everything about one task — command (quoted so
// it can be pasted back), what it asked for, where and on which GPUs it
// runs, its times with the day, pending reason, usage and idle time when the
// master reports them — its events as a timeline, its logs, and a link to
// its worker's charts.

import { h, fill, known, duration, dateTime, requested } from './dom.js';
import { openLogs } from './logs.js';
import { latest, serverNow } from './snapshot.js';
import { authorizedFetch } from './token.js';

const $ = (id) => document.getElementById(id);
let fetched = null;  // {id, task} fetched for a task the snapshot does not carry
let fetching = null;

const shellQuote = (word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`);

function row(label, ...value) {
  return h('tr', {}, h('th', {}, label), h('td', {}, ...value));
}

function usageRows(usage) {
  if (!usage || typeof usage !== 'object') return [];
  return Object.entries(usage).map(([key, value]) =>
    row(`usage: ${key.replace(/_/g, ' ')}`, typeof value === 'object' ? JSON.stringify(value) : String(value)));
}

function events(t) {
  const list = [[t.submitted_at, 'submitted']];
  if (known(t.started_at)) list.push([t.started_at, `started on ${t.worker || 'a worker'} (attempt ${t.attempts})`]);
  if (known(t.idle_since)) list.push([t.idle_since, 'its GPUs went idle']);
  if (known(t.finished_at)) {
    list.push([t.finished_at, `${t.state}${known(t.exit_code) ? ` with exit code ${t.exit_code}` : ''}${t.message ? `: ${t.message}` : ''}`]);
  }
  return list.filter(([time]) => known(time)).sort((a, b) => a[0] - b[0])
    .map(([time, what]) => h('li', {}, h('span', { class: 'muted' }, dateTime(time)), ' ', what));
}

function show(t) {
  const now = serverNow();
  fill($('task-title'), 'Task ', h('span', { class: 'mono' }, t.id), t.name ? ` · ${t.name}` : '');
  $('task-state').className = `pill ${t.state}`;
  $('task-state').textContent = t.state;
  fill($('task-fields'),
    row('Command', h('code', { class: 'cmd-full' }, t.argv.map(shellQuote).join(' '))),
    row('Requested', requested(t)),
    row('Worker', t.worker ? h('a', { href: `#worker=${encodeURIComponent(t.worker)}` }, t.worker, ' (charts)') : '—'),
    row('GPUs', t.gpu_indices.length ? t.gpu_indices.map((i, k) => `${i} ${t.gpus[k] || ''}`).join(', ') : '—'),
    row('Attempts', `${t.attempts} of ${t.max_attempts}`),
    row('Submitted', dateTime(t.submitted_at)),
    row('Started', dateTime(t.started_at)),
    row('Finished', known(t.finished_at) ? dateTime(t.finished_at) : '—'),
    row('Ran for', known(t.started_at) ? duration((known(t.finished_at) ? t.finished_at : now) - t.started_at) : '—'),
    row('Exit code', known(t.exit_code) ? String(t.exit_code) : '—'),
    t.pending_reason ? row('Pending', h('span', { 'data-role': 'pending-reason' }, t.pending_reason)) : null,
    known(t.idle_since) ? row('Idle since', `${dateTime(t.idle_since)} (${duration(now - t.idle_since)})`) : null,
    ...usageRows(t.usage));
  fill($('task-events'), events(t));
  $('task-logs').onclick = () => openLogs(t);
}

// Shows task `id` from the live snapshot, or fetched once when the
// snapshot does not carry it (an older task).
export function renderTaskPage(id) {
  const t = latest.snapshot && latest.snapshot.tasks.find((x) => x.id === id);
  if (t) return show(t);
  if (fetched && fetched.id === id) return fetched.task ? show(fetched.task) : null;
  if (fetching === id) return null;
  fetching = id;
  authorizedFetch(`/api/tasks/${encodeURIComponent(id)}`).then(async (res) => {
    fetched = { id, task: res.ok ? await res.json() : null };
    if (!fetched.task) fill($('task-title'), `No task ${id}`);
    else show(fetched.task);
  }).finally(() => { fetching = null; });
  return null;
}
