// The live connection to the master: GET /api/events (server-sent events)
// starts with a snapshot and then pushes only what changed (`delta` events,
// delta.js); a delta that does not fit the page's copy (a missed event)
// makes the page reconnect, which starts with a fresh snapshot. If the
// master refuses the stream
// (too many dashboards open) or the browser cannot read one, the page polls
// GET /api/dashboard every second instead and tries the stream again later.
// The badge #conn says which (data-mode: sse, polling, offline).
//
// Both need a token (token.js). EventSource cannot send one, so the stream
// is read with fetch() and parsed here (event and data lines, events ended
// by a blank line). Without a token, or with one the master refuses, the
// page says so and waits for the token dialog.

import { applyDelta } from './delta.js';
import { authorizedFetch, onTokenChange } from './token.js';

const POLL_MS = 1000;
const STREAM_RETRY_MS = 30000;
const RECONNECT_MS = 2000;

const $ = (id) => document.getElementById(id);

let onSnapshot = () => {};
let pollTimer = null;
let stream = null;  // the AbortController of the open stream
let retryTimer = null;
let current = null;  // the snapshot the page holds, deltas applied
// What the stream has cost so far (read by the browser tests).
const liveCost = { events: 0, bytes: 0, ms: 0 };
window.gpulseLiveCost = liveCost;

function setMode(mode, text) {
  const el = $('conn');
  el.dataset.mode = mode;
  el.textContent = text;
}

function needsToken(res) {
  if (res.status !== 401 && res.status !== 403) return false;
  setMode('offline', 'needs a token (Cluster token)');
  return true;
}

// Calls `handle(event, data)` for each event in the text read so far;
// returns what is left of an event not yet complete.
function parseEvents(buffer, handle) {
  let end;
  while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) handle(event, data.join('\n'));
  }
  return buffer;
}

function later(fn, ms) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(fn, ms);
}

async function startStream() {
  const canStream = window.ReadableStream && window.TextDecoder && window.AbortController;
  if (!canStream || new URLSearchParams(location.search).get('live') === 'poll') {
    startPolling();
    return;
  }
  const controller = new AbortController();
  stream = controller;
  try {
    const res = await authorizedFetch('/api/events', { cache: 'no-store', signal: controller.signal });
    if (needsToken(res)) {
      stopPolling();
      return;  // the token dialog is open; onTokenChange restarts
    }
    if (!res.ok || !res.body) {
      // Refused (e.g. 503: too many streams): poll, and try again later.
      startPolling();
      later(startStream, STREAM_RETRY_MS);
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let missed = false;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (event, data) => {
        if (missed) return;
        let next;
        const started = performance.now();
        if (event === 'snapshot') next = JSON.parse(data);
        else if (event === 'delta') next = applyDelta(current, JSON.parse(data));
        else return;
        if (!next) {
          missed = true;  // start again from a snapshot
          return;
        }
        current = next;
        liveCost.events += 1;
        liveCost.bytes += data.length;
        liveCost.ms += performance.now() - started;
        stopPolling();
        setMode('sse', 'live');
        onSnapshot(current);
      });
      if (missed) {
        controller.abort();
        if (stream === controller) later(startStream, 0);
        return;
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (stream !== controller) return;
  setMode('offline', 'reconnecting…');
  later(startStream, RECONNECT_MS);
}

function startPolling() {
  if (pollTimer) return;
  const poll = async () => {
    try {
      const res = await authorizedFetch('/api/dashboard', { cache: 'no-store' });
      if (needsToken(res)) {
        stopPolling();
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      current = await res.json();
      onSnapshot(current);
      setMode('polling', 'live (polling every second)');
    } catch (err) {
      setMode('offline', `master unreachable (${err.message})`);
    }
  };
  poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

function restart() {
  if (stream) stream.abort();
  stream = null;
  stopPolling();
  clearTimeout(retryTimer);
  startStream();
}

// Calls `handler(snapshot)` with every snapshot from now on.
export function connectLive(handler) {
  onSnapshot = handler;
  onTokenChange(restart);
  startStream();
}
