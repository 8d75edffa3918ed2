// gpulse dashboard: cluster summary, a card per worker with live GPU figures
// and charts of the last hour, the task table with logs, submit and cancel.
//
// This module starts the page and hands each snapshot from the live
// connection to the views:
//   live.js                           the connection (server-sent events, or polling)
//   snapshot.js                       the latest snapshot and the master's clock
//   summary.js                        the summary tiles
//   workers.js, worker_charts.js,     the worker cards, their charts and the
//   history.js                        history the charts are drawn from
//   tasks.js, logs.js                 the task table and the log viewer
//   submit.js, token.js               the submit form and the cluster token
//   dom.js, chart.js                  DOM building, formatting, SVG line charts

import { initLogs } from './logs.js';
import { connectLive } from './live.js';
import { setSnapshot } from './snapshot.js';
import { initSubmit } from './submit.js';
import { renderSummary } from './summary.js';
import { renderTasks } from './tasks.js';
import { initToken } from './token.js';
import { renderWorkers, tickAges, redrawVisibleCharts } from './workers.js';

function apply(snapshot) {
  setSnapshot(snapshot);
  renderSummary(snapshot);
  renderWorkers(snapshot.workers);
  renderTasks(snapshot.tasks, snapshot.tasks_total);
}

initToken();
initSubmit();
initLogs();
connectLive(apply);
setInterval(tickAges, 500);
setInterval(redrawVisibleCharts, 5000);
