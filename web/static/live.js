// The live connection to the master: it pushes a snapshot (GET /api/events,
// server-sent events) whenever the cluster changes; if it refuses the stream
// (too many dashboards open) or the browser cannot hold one, the page polls
// GET /api/dashboard every second instead and tries the stream again later.
// The badge #conn says which (data-mode: sse, polling, offline).

const POLL_MS = 1000;
const STREAM_RETRY_MS = 30000;

const $ = (id) => document.getElementById(id);

let onSnapshot = () => {};
let pollTimer = null;
let source = null;

function setMode(mode, text) {
  const el = $('conn');
  el.dataset.mode = mode;
  el.textContent = text;
}

function startStream() {
  if (!window.EventSource || new URLSearchParams(location.search).get('live') === 'poll') {
    startPolling();
    return;
  }
  source = new EventSource('/api/events');
  source.addEventListener('snapshot', (event) => {
    stopPolling();
    setMode('sse', 'live');
    onSnapshot(JSON.parse(event.data));
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. 503: too many streams): poll, and try again later.
      source.close();
      source = null;
      startPolling();
      setTimeout(startStream, STREAM_RETRY_MS);
    } else {
      setMode('offline', 'reconnecting…');
    }
  };
}

function startPolling() {
  if (pollTimer) return;
  const poll = async () => {
    try {
      const res = await fetch('/api/dashboard', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      onSnapshot(await res.json());
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

// Calls `handler(snapshot)` with every snapshot from now on.
export function connectLive(handler) {
  onSnapshot = handler;
  startStream();
}
