// The fleet view: one cell per GPU, grouped by worker, coloured by
// utilization and marked when the GPU is free (hollow), allocated but idle
// (striped amber), unhealthy (red, crossed) or its worker dead (grey).
// 200 workers × 8 GPUs fit a 1920×1080 screen. Hovering a cell names the
// GPU and its task; clicking it shows both with links; the filter box keeps
// the workers whose id, hostname, GPU model or task matches.
//
// Groups and cells are kept and updated in place (attributes and a colour),
// so a snapshot of 1,600 GPUs costs no layout of new elements.

import { h, fill, known, pct } from './dom.js';

const $ = (id) => document.getElementById(id);
const groups = new Map();  // worker id -> {root, name, cells: []}
let filterText = '';
let lastWorkers = [];
let selected = null;  // "worker/index" of the clicked cell

// Below this utilization an allocated GPU counts as idle.
export const IDLE_PERCENT = 5;

// Grey-blue at 0 % to orange at 100 %; red is kept for unhealthy.
export function utilColor(util) {
  const u = Math.max(0, Math.min(100, util)) / 100;
  return `hsl(${Math.round(210 - 180 * u)} ${Math.round(18 + 77 * u)}% ${Math.round(42 + 10 * u)}%)`;
}

// What a cell shows: free, busy (allocated and working), idle, unhealthy,
// unknown (no figure) or dead.
export function gpuState(w, g) {
  if (w.state === 'dead') return 'dead';
  if (!g.healthy || g.error || g.health === 'unhealthy') return 'unhealthy';
  const util = g.utilization_gpu;
  if (g.allocated_to) return known(util) && util < IDLE_PERCENT ? 'idle' : 'busy';
  return 'free';
}

function describe(w, g) {
  const state = gpuState(w, g);
  const what = {
    dead: 'worker dead', unhealthy: `unhealthy${g.error ? `: ${g.error}` : ''}`,
    idle: `allocated to ${g.allocated_to}, idle`, busy: `allocated to ${g.allocated_to}`, free: 'free',
  }[state];
  return `${w.id} GPU ${g.index} · ${g.error ? 'n/a' : pct(g.utilization_gpu)} · ${what}`;
}

function matches(w) {
  if (!filterText) return true;
  const hay = [w.id, w.hostname, w.state, ...w.gpu_models.map((m) => m.name),
    ...w.gpus.map((g) => g.allocated_to || '')].join(' ').toLowerCase();
  return filterText.split(/\s+/).every((word) => hay.includes(word));
}

function createGroup(id) {
  const group = {
    name: h('a', { class: 'fleet-name', href: `#worker=${encodeURIComponent(id)}` }, id),
    cells: [],
    box: h('div', { class: 'fleet-cells' }),
  };
  group.root = h('div', { class: 'fleet-node', 'data-fleet-worker': id }, group.name, group.box);
  return group;
}

function updateCell(cell, w, g) {
  const state = gpuState(w, g);
  const util = g.error ? null : g.utilization_gpu;
  // Most cells do not change between two events: touch only those that do.
  const signature = `${state}|${util}|${g.allocated_to}|${g.error}|${selected}`;
  if (cell.signature === signature) return;
  cell.signature = signature;
  const key = `${w.id}/${g.index}`;
  if (cell.dataset.state !== state) cell.dataset.state = state;
  const bucket = known(util) ? String(Math.round(util / 10) * 10) : 'na';
  if (cell.dataset.util !== bucket) {
    cell.dataset.util = bucket;
    cell.style.setProperty('--c', known(util) ? utilColor(util) : 'var(--line)');
  }
  cell.title = describe(w, g);
  cell.dataset.pct = pct(util);
  cell.dataset.holder = g.allocated_to || '';
  cell.classList.toggle('selected', key === selected);
}

function showInfo() {
  const box = $('fleet-info');
  if (!selected) {
    box.hidden = true;
    return;
  }
  const [id, index] = [selected.slice(0, selected.lastIndexOf('/')), Number(selected.slice(selected.lastIndexOf('/') + 1))];
  const w = lastWorkers.find((x) => x.id === id);
  const g = w && w.gpus.find((x) => x.index === index);
  if (!g) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  fill(box, h('span', {}, describe(w, g)), ' ',
    h('a', { href: `#worker=${encodeURIComponent(w.id)}`, class: 'button small worker-go' }, 'Worker'), ' ',
    g.allocated_to ? h('a', { href: `#task=${encodeURIComponent(g.allocated_to)}`, class: 'button small task-go' }, 'Task') : null);
}

// Shows `workers` (the snapshot's worker objects).
export function renderFleet(workers) {
  lastWorkers = workers;
  const container = $('fleet');
  const seen = new Set();
  let shown = 0;
  let gpus = 0;
  workers.forEach((w, i) => {
    seen.add(w.id);
    let group = groups.get(w.id);
    if (!group) {
      group = createGroup(w.id);
      groups.set(w.id, group);
    }
    if (container.children[i] !== group.root) container.insertBefore(group.root, container.children[i] || null);
    // Attributes are written only when they change: a write, even of the
    // same value, makes the browser recompute the group's style.
    const hidden = !matches(w);
    const look = `${w.state}|${hidden}|${w.gpu_allocated}/${w.gpu_capacity}`;
    if (group.look !== look) {
      group.look = look;
      group.root.className = `fleet-node ${w.state}`;
      group.root.hidden = hidden;
      group.name.title = `${w.id} · ${w.state} · ${w.gpu_allocated}/${w.gpu_capacity} GPUs allocated`;
    }
    while (group.cells.length < w.gpus.length) {
      const cell = h('button', { class: 'gpu-cell', type: 'button' });
      group.cells.push(cell);
      group.box.append(cell);
    }
    while (group.cells.length > w.gpus.length) group.cells.pop().remove();
    w.gpus.forEach((g, k) => {
      const cell = group.cells[k];
      cell.dataset.gpuCell = `${w.id}/${g.index}`;
      updateCell(cell, w, g);
    });
    if (!group.root.hidden) {
      shown++;
      gpus += w.gpus.length;
    }
  });
  for (const [id, group] of groups) {
    if (!seen.has(id)) {
      group.root.remove();
      groups.delete(id);
    }
  }
  $('fleet-count').textContent = filterText
    ? `${shown} of ${workers.length} workers · ${gpus} GPUs` : `${workers.length} workers · ${gpus} GPUs`;
  showInfo();
}

export function initFleet() {
  $('fleet-filter').addEventListener('input', (e) => {
    filterText = e.target.value.trim().toLowerCase();
    renderFleet(lastWorkers);
  });
  $('fleet').addEventListener('click', (e) => {
    const cell = e.target.closest('.gpu-cell');
    if (!cell) return;
    selected = selected === cell.dataset.gpuCell ? null : cell.dataset.gpuCell;
    renderFleet(lastWorkers);
  });
}
