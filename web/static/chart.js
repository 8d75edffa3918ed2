// Line charts drawn as plain SVG: a few series over a shared time axis, with
// gaps where a value is unknown, horizontal grid lines, and a cursor that
// reads out the values under the pointer.

import { h, s, fill, known } from './dom.js';

const W = 320;
const H = 124;
const PAD = { left: 34, right: 6, top: 8, bottom: 17 };

// A y-axis top that is a round number at or above `max`.
function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

function shortNumber(v) {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 ? 1 : 0)}`;
}

// One polyline per run of known values; a lone known value becomes a dot.
function seriesPath(t, values, x, y) {
  let d = '';
  const dots = [];
  let run = 0;
  for (let i = 0; i < t.length; i++) {
    const v = values[i];
    if (!known(v)) {
      if (run === 1) dots.push(i - 1);
      run = 0;
      continue;
    }
    d += `${run === 0 ? 'M' : 'L'}${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`;
    run++;
  }
  if (run === 1) dots.push(t.length - 1);
  return { d, dots };
}

// A legend swatch; coloured through the CSSOM, which the page's
// Content-Security-Policy allows (a style attribute it would not).
function swatch(color) {
  const el = h('i');
  el.style.background = color;
  return el;
}

// Builds a chart element. spec: {title, unit, format(v) -> text, t: [unix s],
// tMin, tMax, yMax (fixed top, e.g. 100 for %) or undefined for automatic,
// series: [{label, color, values}]}.
export function lineChart(spec) {
  const readout = h('span', { class: 'readout' });
  const head = h('div', { class: 'chart-head' }, h('span', {}, spec.title), readout);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': spec.title });
  const legend = h('div', { class: 'chart-legend' }, spec.series.map((series) =>
    h('span', {}, swatch(series.color), series.label)));
  const root = h('div', { class: 'chart' }, head, svg, legend);

  const { t, tMin, tMax } = spec;
  let top = spec.yMax;
  if (!top) {
    let max = 0;
    for (const series of spec.series) for (const v of series.values) if (known(v) && v > max) max = v;
    top = niceMax(max);
  }
  const span = Math.max(1, tMax - tMin);
  const x = (time) => PAD.left + ((time - tMin) / span) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - Math.max(0, Math.min(v, top)) / top) * (H - PAD.top - PAD.bottom);

  for (const fraction of [0, 0.5, 1]) {
    const gy = y(top * fraction);
    svg.append(s('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: gy, y2: gy }));
    svg.append(s('text', { class: 'axis-label', x: PAD.left - 4, y: gy + 3, 'text-anchor': 'end' },
      shortNumber(top * fraction)));
  }
  const minutes = Math.round(span / 60);
  const spanText = minutes >= 120 ? `-${Math.round(minutes / 60)} h` : minutes >= 1 ? `-${minutes} min` : `-${Math.round(span)} s`;
  svg.append(s('text', { class: 'axis-label', x: PAD.left, y: H - 3 }, spanText));
  svg.append(s('text', { class: 'axis-label', x: W - PAD.right, y: H - 3, 'text-anchor': 'end' }, 'now'));

  let anyData = false;
  for (const series of spec.series) {
    const { d, dots } = seriesPath(t, series.values, x, y);
    if (d) anyData = true;
    if (d) svg.append(s('path', { class: 'series', d, stroke: series.color }));
    for (const i of dots) svg.append(s('circle', { cx: x(t[i]), cy: y(series.values[i]), r: 1.8, fill: series.color }));
  }
  if (!anyData) {
    svg.append(s('text', { class: 'nodata', x: (W + PAD.left) / 2, y: H / 2, 'text-anchor': 'middle' },
      t.length ? 'n/a: not reported' : 'no data yet'));
  }

  const cursor = s('line', { class: 'cursor', y1: PAD.top, y2: H - PAD.bottom, visibility: 'hidden' });
  svg.append(cursor);
  svg.addEventListener('mousemove', (event) => {
    if (!t.length) return;
    const box = svg.getBoundingClientRect();
    const time = tMin + ((event.clientX - box.left) / box.width * W - PAD.left) / (W - PAD.left - PAD.right) * span;
    let best = 0;
    for (let i = 1; i < t.length; i++) if (Math.abs(t[i] - time) < Math.abs(t[best] - time)) best = i;
    cursor.setAttribute('x1', x(t[best]));
    cursor.setAttribute('x2', x(t[best]));
    cursor.setAttribute('visibility', 'visible');
    const when = new Date(t[best] * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const parts = spec.series.map((series) => `${series.label} ${spec.format(series.values[best])}`);
    readout.textContent = `${when} · ${parts.join(' · ')}`;
  });
  svg.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    fill(readout);
  });
  return root;
}
