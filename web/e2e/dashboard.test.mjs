// Browser end-to-end test of the gpulse dashboard.
//
// Starts a real gpulse-master and two gpulse-workers on the NVML simulator
// (loopback, free ports, 1 s heartbeats), opens the dashboard in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser
// is ever downloaded) and checks what a person would see: every worker, live
// GPU utilization that follows the simulator's load, tasks appearing and
// finishing, logs, submit and cancel with the cluster token, and that text
// from users is shown, never run. Screenshots go to web/e2e/artifacts/.
//
// Exit codes: 0 all passed, 1 something failed, 77 skipped (playwright-core
// or chromium missing). Environment: GPULSE_BIN_DIR, GPULSE_LIB_DIR (default
// build/bin, build/lib), GPULSE_CHROMIUM (default /usr/bin/chromium),
// GPULSE_DOCS_SCREENSHOT=1 to also refresh docs/dashboard.png.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, readFileSync, copyFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = process.env.GPULSE_BIN_DIR || join(ROOT, 'build/bin');
const LIB = process.env.GPULSE_LIB_DIR || join(ROOT, 'build/lib');
const CHROMIUM = process.env.GPULSE_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = join(HERE, 'artifacts');
const DEADLINE_MS = 55_000;
const SKIP = 77;

function skip(why) {
  console.log(`dashboard e2e: skipped: ${why}`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(SKIP);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  skip('playwright-core is not installed (run: npm ci --prefix web/e2e)');
}
if (!existsSync(CHROMIUM)) skip(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
for (const file of [join(BIN, 'gpulse-master'), join(BIN, 'gpulse-worker'), join(LIB, 'libnvidia-ml-sim.so')]) {
  if (!existsSync(file)) {
    console.error(`dashboard e2e: ${file} is missing: build gpulse-master gpulse-worker nvml_sim first`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// ---- processes -----------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), 'gpulse-e2e-'));
const children = [];

function start(name, argv, env = {}) {
  const log = openSync(join(work, `${name}.log`), 'a');
  const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  child.logName = name;
  children.push(child);
  return child;
}

async function stopAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const deadline = Date.now() + 3000;
  for (const child of children) {
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(20);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await condition();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

// Writes a simulator scenario the way an operator would change it: a new file
// renamed over the old one (the simulator rereads it when it changes).
function writeScenario(path, gpus) {
  const scenario = { driver_version: '580.65.06', gpus };
  writeFileSync(`${path}.tmp`, JSON.stringify(scenario, null, 2));
  renameSync(`${path}.tmp`, path);
}

function gpu(name, uuid, utilization, extra = {}) {
  return { name, uuid, utilization_gpu: utilization, memory_total_mib: 81559, memory_used_mib: 20480,
    temperature_c: 55, power_w: 310, ...extra };
}

// ---- the test steps ------------------------------------------------------------------

const results = [];
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}: ${err.message}`);
  }
}

const watchdog = setTimeout(async () => {
  console.log(`not ok - the whole test took longer than ${DEADLINE_MS / 1000} s`);
  await stopAll();
  console.log(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  process.exit(1);
}, DEADLINE_MS);

let context;
let exitCode = 1;
try {
  mkdirSync(ARTIFACTS, { recursive: true });
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const dataDir = join(work, 'master');
  start('master', [join(BIN, 'gpulse-master'), '--listen', `127.0.0.1:${grpcPort}`, '--http', `127.0.0.1:${httpPort}`,
    '--data-dir', dataDir]);
  await waitFor('the master', async () => (await fetch(`${base}/healthz`)).ok);
  const token = readFileSync(join(dataDir, 'token'), 'utf8').trim();

  const alphaScenario = join(work, 'alpha.json');
  const alphaGpus = [
    gpu('NVIDIA H100 80GB HBM3', 'GPU-0a1b2c3d-0000-4000-8000-000000000001', 30),
    gpu('NVIDIA H100 80GB HBM3', 'GPU-0a1b2c3d-0000-4000-8000-000000000002',
      { min: 40, max: 90, period_s: 12 }, { power_w: { min: 250, max: 600, period_s: 12 } }),
  ];
  writeScenario(alphaScenario, alphaGpus);
  const betaScenario = join(work, 'beta.json');
  writeScenario(betaScenario, [gpu('NVIDIA A100-SXM4-80GB', 'GPU-0a1b2c3d-0000-4000-8000-0000000000b1', 10,
    { temperature_c: { min: 40, max: 70, period_s: 20 } })]);
  for (const [id, scenario] of [['w-alpha', alphaScenario], ['w-beta', betaScenario]]) {
    start(id, [join(BIN, 'gpulse-worker'), '--master', `127.0.0.1:${grpcPort}`, '--id', id, '--interval', '1',
      '--token-file', join(dataDir, 'token'), '--work-dir', join(work, `${id}-work`)],
    { GPULSE_NVML_LIBRARY: join(LIB, 'libnvidia-ml-sim.so'), GPULSE_NVML_SIM_SCENARIO: scenario });
  }

  const profile = mkdtempSync(join(work, 'chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
  });
  const page = context.pages()[0] || await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('dialog', (dialog) => { pageErrors.push(`unexpected dialog: ${dialog.message()}`); dialog.dismiss(); });
  // Nothing may be loaded from anywhere but the master.
  const foreign = [];
  page.on('request', (request) => { if (!request.url().startsWith(base)) foreign.push(request.url()); });
  await page.goto(`${base}/`);

  const utilOf = (worker, index) => page.locator(`[data-gpu-util="${worker}/${index}"]`).textContent();

  await step('the page shows every worker, healthy, with its GPUs', async () => {
    await page.locator('[data-worker="w-alpha"] [data-role="state"]', { hasText: 'healthy' }).waitFor({ timeout: 15_000 });
    await page.locator('[data-worker="w-beta"] [data-role="state"]', { hasText: 'healthy' }).waitFor({ timeout: 15_000 });
    const cards = await page.locator('[data-worker]').count();
    if (cards !== 2) throw new Error(`${cards} worker cards, expected 2`);
    const sub = await page.locator('[data-worker="w-alpha"] .worker-sub').textContent();
    if (!sub.includes('2 × NVIDIA H100 80GB HBM3')) throw new Error(`capacity line: ${sub}`);
  });

  await step('a GPU\'s utilization is shown live, pushed over server-sent events', async () => {
    await waitFor('w-alpha GPU 0 at 30%', async () => (await utilOf('w-alpha', 0)) === '30%');
    await waitFor('w-beta GPU 0 at 10%', async () => (await utilOf('w-beta', 0)) === '10%');
    const mode = await page.locator('#conn').getAttribute('data-mode');
    if (mode !== 'sse') throw new Error(`connection mode ${mode}`);
    const age = await page.locator('[data-worker="w-alpha"] [data-role="age"]').textContent();
    if (!/last heartbeat [\d.]+ s ago/.test(age)) throw new Error(`heartbeat age: ${age}`);
  });

  await step('charts of the last hour are drawn from the history endpoint', async () => {
    await waitFor('utilization lines', async () =>
      (await page.locator('[data-worker="w-alpha"] .chart path.series').count()) >= 8);
    const titles = await page.locator('[data-worker="w-alpha"] .chart-head > span:first-child').allTextContents();
    for (const want of ['Utilization (%)', 'Memory used (GiB)', 'Temperature (°C)', 'Power (W)']) {
      if (!titles.includes(want)) throw new Error(`no chart "${want}" in ${titles.join(', ')}`);
    }
  });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-initial.png'), fullPage: true });

  await step('the figure follows the simulator\'s load within a few seconds', async () => {
    alphaGpus[0].utilization_gpu = 85;
    writeScenario(alphaScenario, alphaGpus);
    const changedAt = Date.now();
    await waitFor('w-alpha GPU 0 at 85%', async () => (await utilOf('w-alpha', 0)) === '85%', 10_000);
    console.log(`  (the page showed the new load ${Date.now() - changedAt} ms after the scenario changed)`);
  });

  const hostile = '<img src=x onerror="window.__pwned=1">';
  let apiTask;
  await step('a task submitted through the API appears and finishes', async () => {
    const res = await fetch(`${base}/api/tasks`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: hostile, argv: ['/bin/sh', '-c', 'echo hello from gpulse; sleep 1'], gpus: 1 }),
    });
    if (res.status !== 201) throw new Error(`submit: HTTP ${res.status} ${await res.text()}`);
    apiTask = (await res.json()).id;
    const row = page.locator(`[data-task="${apiTask}"]`);
    await row.waitFor({ timeout: 5000 });
    await row.locator('[data-role="task-state"]', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    const name = await row.locator('.name').textContent();
    if (name !== hostile) throw new Error(`name shown as ${name}`);
    if (await page.locator('#tasks img').count()) throw new Error('a task name turned into an element');
    if (await page.evaluate(() => window.__pwned)) throw new Error('a task name ran a script');
  });

  await step('its output is shown in the log viewer', async () => {
    await page.locator(`[data-task="${apiTask}"] button`, { hasText: 'Logs' }).click();
    await page.locator('#logs-body', { hasText: 'hello from gpulse' }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-logs.png') });
    await page.locator('#logs-dialog [data-close]').click();
  });

  let formTask;
  await step('the submit form uses the pasted token, and cancel stops the task', async () => {
    await page.locator('#token-button').click();
    await page.locator('#token-input').fill(token);
    await page.locator('#token-form button[value="save"]').click();
    await page.locator('#submit-toggle').click();
    await page.locator('#submit-form input[name="command"]').fill("/bin/sh -c 'echo started; sleep 60'");
    await page.locator('#submit-form input[name="name"]').fill('long job');
    await page.locator('#submit-form input[name="gpus"]').fill('1');
    await page.locator('#submit-form button[type="submit"]').click();
    const result = await waitFor('the submit result', async () => {
      const text = await page.locator('#submit-result').textContent();
      return text.startsWith('Submitted ') ? text : null;
    });
    formTask = result.replace('Submitted ', '');
    const row = page.locator(`[data-task="${formTask}"]`);
    await row.locator('[data-role="task-state"]', { hasText: 'running' }).waitFor({ timeout: 15_000 });
    const stored = await (await fetch(`${base}/api/tasks/${formTask}`)).json();
    if (JSON.stringify(stored.argv) !== JSON.stringify(['/bin/sh', '-c', 'echo started; sleep 60'])) {
      throw new Error(`argv ${JSON.stringify(stored.argv)}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-running.png'), fullPage: true });
    const cancel = row.locator('[data-role="cancel"]');
    await cancel.click();
    await row.locator('[data-role="cancel"]', { hasText: 'Confirm cancel' }).waitFor({ timeout: 2000 });
    await cancel.click();
    await row.locator('[data-role="task-state"]', { hasText: 'cancelled' }).waitFor({ timeout: 15_000 });
  });

  await step('a wrong token is refused and said so', async () => {
    await page.evaluate(() => localStorage.setItem('gpulse.token', 'not-the-token'));
    await page.locator('#submit-form input[name="command"]').fill('/bin/true');
    await page.locator('#submit-form button[type="submit"]').click();
    await page.locator('#submit-result', { hasText: 'wrong cluster token' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('Escape');  // the token dialog opened for a new one
  });

  await step('a page that cannot hold a stream polls instead', async () => {
    const polling = await context.newPage();
    await polling.goto(`${base}/?live=poll`);
    await polling.locator('[data-worker="w-beta"] [data-gpu-util="w-beta/0"]', { hasText: '10%' }).waitFor({ timeout: 10_000 });
    const mode = await polling.locator('#conn').getAttribute('data-mode');
    if (mode !== 'polling') throw new Error(`connection mode ${mode}`);
    await polling.close();
  });

  await step('no script error, and nothing loaded from outside the master', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('; '));
    if (foreign.length) throw new Error(`requests elsewhere: ${foreign.join(', ')}`);
  });

  await page.locator(`[data-task="${apiTask}"]`).scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = join(ARTIFACTS, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.GPULSE_DOCS_SCREENSHOT === '1') copyFileSync(shot, join(ROOT, 'docs/dashboard.png'));
  exitCode = results.every((r) => r.ok) ? 0 : 1;
} catch (err) {
  console.log(`not ok - setting up: ${err.stack || err.message}`);
  results.push({ name: 'setup', ok: false });
} finally {
  clearTimeout(watchdog);
  if (context) await context.close().catch(() => {});
  await stopAll();
  if (exitCode !== 0) {
    for (const child of children) {
      const log = join(work, `${child.logName}.log`);
      if (existsSync(log)) console.log(`--- ${child.logName}\n${readFileSync(log, 'utf8').slice(-3000)}`);
    }
  }
  rmSync(work, { recursive: true, force: true });
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(exitCode);
