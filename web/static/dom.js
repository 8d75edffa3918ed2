// DOM building and number formatting for the dashboard.
//
// Every piece of text reaches the page through text nodes (never innerHTML),
// so task names, commands and worker names are always shown, never run.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  return el;
}

// h('td', {class: 'x'}, 'text', child) -> an HTML element.
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

// s('path', {d: ...}) -> an SVG element.
export function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const known = (v) => v !== null && v !== undefined && Number.isFinite(v);

// "n/a" in the muted style for unknown values; never a made-up 0.
export function na() {
  return h('span', { class: 'na' }, 'n/a');
}

export function pct(v) {
  if (!known(v)) return 'n/a';
  return `${v < 10 && v > 0 ? v.toFixed(1) : Math.round(v)}%`;
}

const GIB = 1024 ** 3;

export function bytes(v) {
  if (!known(v)) return 'n/a';
  if (v >= 1024 ** 4) return `${(v / 1024 ** 4).toFixed(1)} TiB`;
  if (v >= GIB) return `${(v / GIB).toFixed(1)} GiB`;
  if (v >= 1024 ** 2) return `${Math.round(v / 1024 ** 2)} MiB`;
  return `${Math.round(v / 1024)} KiB`;
}

export function gib(v) {
  return known(v) ? (v / GIB).toFixed(1) : 'n/a';
}

export function celsius(v) {
  return known(v) ? `${Math.round(v)} °C` : 'n/a';
}

export function watts(v) {
  return known(v) ? `${Math.round(v)} W` : 'n/a';
}

// 0.8 s, 12 s, 3 min, 2 h 5 min.
export function duration(seconds) {
  if (!known(seconds)) return 'n/a';
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  const hours = Math.floor(s / 3600);
  if (hours < 48) return `${hours} h ${Math.round((s - hours * 3600) / 60)} min`;
  return `${Math.round(hours / 24)} d`;
}

export function clockTime(unixSeconds) {
  if (!known(unixSeconds)) return 'n/a';
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// "Nov 29, 22:38:02": the day as well, for anything that can be older than today.
export function dateTime(unixSeconds) {
  if (!known(unixSeconds)) return 'n/a';
  return new Date(unixSeconds * 1000).toLocaleString([], {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// "2 GPU · 4 CPU · 16.0 GiB": what a task asked for.
export function requested(t) {
  const parts = [];
  if (t.gpus_requested) parts.push(`${t.gpus_requested} GPU`);
  parts.push(`${t.cpus ?? 1} CPU`);
  if (known(t.memory_bytes) && t.memory_bytes > 0) parts.push(bytes(t.memory_bytes));
  return parts.join(' · ');
}

// A width for a bar from a percentage; unknown -> empty.
export function setBar(bar, percent) {
  const inner = bar.firstChild;
  inner.style.width = known(percent) ? `${Math.max(0, Math.min(100, percent))}%` : '0';
}

export function bar(kind, percent) {
  const el = h('div', { class: `bar ${kind || ''}` }, h('span'));
  setBar(el, percent);
  return el;
}

// Splits a command line the way a shell would for plain words, quotes and
// backslashes (no expansion). Throws on an unclosed quote.
export function splitCommand(line) {
  const words = [];
  let word = '';
  let inWord = false;
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}
