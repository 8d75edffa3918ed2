// The cluster summary tiles at the top: workers, GPUs, utilization, tasks.

import { h, fill, known, na, pct } from './dom.js';

const $ = (id) => document.getElementById(id);

function chip(kind, label, value) {
  return h('span', { class: `chip ${kind}` }, h('b', {}, String(value)), ` ${label}`);
}

function tile(title, main, ...chips) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-title' }, title), h('div', { class: 'tile-main' }, main),
    h('div', { class: 'chips' }, chips));
}

export function renderSummary(snap) {
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
