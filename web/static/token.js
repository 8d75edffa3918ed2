// The master's token — the read token (to view) or the admin token (to view,
// submit and cancel): kept in this browser's localStorage only, asked for in
// the token dialog, and sent as "Authorization: Bearer" with every API call
// (authorizedFetch, authorizedPost).

const TOKEN_KEY = 'gpulse.token';

const $ = (id) => document.getElementById(id);

function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

// Opens the token dialog, with `message` (why it is asked for) as the hint.
export function openTokenDialog(message) {
  const dialog = $('token-dialog');
  const input = $('token-input');
  input.value = token();
  input.placeholder = message || 'paste the token';
  if (!dialog.open) dialog.showModal();
  input.focus();
}

const listeners = [];

// Calls `fn()` whenever the token is saved or forgotten (the live view then
// reconnects with the new one).
export function onTokenChange(fn) {
  listeners.push(fn);
}

// fetch() with the token; opens the token dialog when the master answers
// 401 (no token, or a wrong one). Resolves to the Response.
export async function authorizedFetch(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) {
    const data = await res.clone().json().catch(() => ({}));
    openTokenDialog(data.error || 'The master needs a token.');
  }
  return res;
}

// POSTs `body` as JSON with the token; resolves to the reply's JSON, or
// rejects with the API's error message (opening the token dialog when there
// is no token or the master refused it).
export async function authorizedPost(path, body) {
  if (!token()) {
    openTokenDialog('Paste the admin token first.');
    throw new Error('no token set');
  }
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token()}` },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 || res.status === 403) openTokenDialog(data.error || 'The master refused the token.');
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

export function initToken() {
  const button = $('token-button');
  const refresh = () => { button.textContent = token() ? 'Cluster token ✓' : 'Cluster token'; };
  refresh();
  button.addEventListener('click', () => openTokenDialog());
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : 'save';
    const before = token();
    if (action === 'save') {
      const value = $('token-input').value.trim();
      if (value) localStorage.setItem(TOKEN_KEY, value);
    } else if (action === 'forget') {
      localStorage.removeItem(TOKEN_KEY);
    }
    $('token-dialog').close();
    refresh();
    if (token() !== before) listeners.forEach((fn) => fn());
  });
}
