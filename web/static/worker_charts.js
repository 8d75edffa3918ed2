// The charts on a worker card: GPU utilization, memory, temperature and
// power over the last hour (host CPU and memory for a worker without GPUs),
// drawn from history.js, one color per GPU index.

import { fill, known, pct, celsius, watts } from './dom.js';
import { lineChart } from './chart.js';
import { historyOf } from './history.js';
import { serverNow } from './snapshot.js';

export const PALETTE = ['#58a6ff', '#7ee787', '#f778ba', '#ffa657', '#d2a8ff', '#56d4dd', '#e3b341', '#ff7b72'];
const CHART_MIN_SPAN_S = 300;

// The time range the charts span (the page's 15 min / 1 h / 6 h choice),
// at most what the master keeps (its --history-window).
let rangeSeconds = 3600;
export function setChartRange(seconds) { rangeSeconds = seconds; }
export function chartRange() { return rangeSeconds; }

// The color of GPU `index` in every chart and table.
export const color = (index) => PALETTE[index % PALETTE.length];

// Draws worker `w`'s charts into `card.charts` when new points arrived, and
// every 15 s so the time axis moves.
export function drawCharts(card, w) {
  const hist = historyOf(w.id);
  if (card.chartsDrawn === hist.version && card.chartsRange === rangeSeconds && performance.now() - card.chartsAt < 15000) {
    return;
  }
  card.chartsDrawn = hist.version;
  card.chartsRange = rangeSeconds;
  card.chartsAt = performance.now();
  // The last hour (the history window); while there is less than that, the
  // last 5 minutes or since the first point, so a new worker's lines are
  // not squeezed against the right edge.
  const tMax = serverNow();
  const first = hist.t.length ? hist.t[0] : tMax;
  const span = Math.min(rangeSeconds, hist.window);
  const tMin = Math.max(tMax - span, Math.min(first, tMax - CHART_MIN_SPAN_S));
  if (card.rangeNote) {
    card.rangeNote.hidden = rangeSeconds <= hist.window;
    card.rangeNote.textContent = `The master keeps ${Math.round(hist.window / 60)} min of history `
      + '(gpulse-master --history-window; docs/dashboard.md states the memory per GPU).';
  }
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
