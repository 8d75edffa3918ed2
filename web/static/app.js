// gpulse dashboard: cluster summary, the fleet view (a cell per GPU), the
// worker table and the task table on the main page; a worker's page
// (#worker=ID: its card with charts) and a task's page (#task=ID).
//
// This module starts the page and hands each snapshot from the live
// connection to the views:
//   live.js                           the connection (server-sent events, or polling)
//   snapshot.js                       the latest snapshot and the master's clock
//   summary.js                        the summary tiles
//   delta.js                          applying the live deltas to the snapshot
//   fleet.js, worker_table.js         the fleet view and the worker table
//   task_page.js                      the task page
//   workers.js, worker_charts.js,     the worker card, its charts and the
//   history.js                        history the charts are drawn from
//   tasks.js, logs.js                 the task table and the log viewer
//   submit.js, token.js               the submit form and the cluster token
//   dom.js, chart.js                  DOM building, formatting, SVG line charts

import { initFleet, renderFleet } from './fleet.js';
import { initLogs } from './logs.js';
import { connectLive } from './live.js';
import { latest, setSnapshot } from './snapshot.js';
import { initSubmit } from './submit.js';
import { renderSummary } from './summary.js';
import { renderTaskPage } from './task_page.js';
import { initTasks, renderTasks } from './tasks.js';
import { initToken } from './token.js';
import { setChartRange } from './worker_charts.js';
import { renderWorkerTable } from './worker_table.js';
import { renderWorkers, tickAges, redrawVisibleCharts } from './workers.js';

const $ = (id) => document.getElementById(id);

// The view the address names: main, or {worker: id}, or {task: id}.
function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('worker')) return { view: 'worker', id: params.get('worker') };
  if (params.get('task')) return { view: 'task', id: params.get('task') };
  return { view: 'main' };
}

function render() {
  const snapshot = latest.snapshot;
  const r = route();
  $('view-main').hidden = r.view !== 'main';
  $('view-worker').hidden = r.view !== 'worker';
  $('view-task').hidden = r.view !== 'task';
  if (!snapshot) return;
  if (r.view === 'main') {
    renderSummary(snapshot);
    renderFleet(snapshot.workers);
    renderWorkerTable(snapshot.workers);
    renderTasks(snapshot.tasks, snapshot.tasks_total);
  }
  const shown = r.view === 'worker' ? snapshot.workers.filter((w) => w.id === r.id) : [];
  renderWorkers(shown);
  $('no-worker').hidden = r.view !== 'worker' || shown.length > 0;
  if (r.view === 'task') renderTaskPage(r.id);
}

// What rendering has cost so far (read by the browser tests).
const renderCost = { renders: 0, ms: 0 };
window.gpulseRenderCost = renderCost;

// Renders once for all the events that arrived while the page was busy.
let renderPending = false;
function apply(snapshot) {
  setSnapshot(snapshot);
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    const started = performance.now();
    render();
    renderCost.renders += 1;
    renderCost.ms += performance.now() - started;
  }, 0);
}

initToken();
initSubmit();
initLogs();
initFleet();
initTasks();
$('chart-range').addEventListener('change', (e) => {
  setChartRange(Number(e.target.value));
  redrawVisibleCharts();
});
window.addEventListener('hashchange', () => {
  render();
  window.scrollTo(0, 0);
});
render();
connectLive(apply);
setInterval(tickAges, 500);
setInterval(redrawVisibleCharts, 5000);
