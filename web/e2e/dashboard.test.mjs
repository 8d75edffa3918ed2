// Browser end-to-end test of the gpulse dashboard.
//
// Starts a real gpulse-master and two gpulse-workers on the NVML simulator
// (loopback, ports the master picks, 1 s heartbeats), opens the dashboard in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser
// is ever downloaded) and checks what a person would see: every worker, live
// GPU utilization that follows the simulator's load, tasks appearing and
// finishing, logs, submit and cancel with the cluster token, and that text
// from users is shown, never run. Screenshots go to web/e2e/artifacts/.
//
// Exit codes: 0 all passed, 1 something failed, 77 skipped (playwright-core
// or chromium missing; with CI=true set that is a failure instead).
// Environment: GPULSE_BIN_DIR, GPULSE_LIB_DIR (default build/bin,
// build/lib), GPULSE_CHROMIUM (default /usr/bin/chromium), CI.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CHROMIUM, CHROMIUM_ARGS, Cluster, IN_CI, missingBinaries, missingPrerequisite, simGpu, waitFor } from './cluster.mjs';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const DEADLINE_MS = 50_000;
const SKIP = 77;

const missing = await missingPrerequisite();
if (missing && IN_CI) {
  console.error(`dashboard e2e: cannot run, and CI is set: ${missing}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (missing) {
  console.log(`dashboard e2e: skipped: ${missing}`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(SKIP);
}
if (missingBinaries().length) {
  console.error(`dashboard e2e: not built: ${missingBinaries().join(', ')} (build gpulse-master gpulse-worker nvml_sim)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const { chromium } = await import('playwright-core');

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

const cluster = new Cluster();
const watchdog = setTimeout(async () => {
  console.log(`not ok - the whole test took longer than ${DEADLINE_MS / 1000} s`);
  await cluster.stop();
  console.log(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  process.exit(1);
}, DEADLINE_MS);

let context;
let exitCode = 1;
try {
  mkdirSync(ARTIFACTS, { recursive: true });
  await cluster.startMaster();
  const base = cluster.url;
  const token = cluster.token;
  const readToken = cluster.readToken;
  const alphaGpus = [
    simGpu('NVIDIA H100 80GB HBM3', 'GPU-0a1b2c3d-0000-4000-8000-000000000001', 30),
    simGpu('NVIDIA H100 80GB HBM3', 'GPU-0a1b2c3d-0000-4000-8000-000000000002',
      { min: 40, max: 90, period_s: 12 }, { power_w: { min: 250, max: 600, period_s: 12 } }),
  ];
  cluster.startWorker('w-alpha', alphaGpus);
  cluster.startWorker('w-beta', [simGpu('NVIDIA A100-SXM4-80GB', 'GPU-0a1b2c3d-0000-4000-8000-0000000000b1', 10,
    { temperature_c: { min: 40, max: 70, period_s: 20 } })]);

  context = await chromium.launchPersistentContext(join(cluster.dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
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

  // A GPU's utilization as its fleet-view cell shows it.
  const utilOf = (worker, index) => page.locator(`[data-gpu-cell="${worker}/${index}"]`).getAttribute('data-pct');

  await step('without a token the page shows nothing and asks for one; the read token opens it', async () => {
    await page.locator('#token-dialog[open]').waitFor({ timeout: 10_000 });
    await page.locator('#conn[data-mode="offline"]', { hasText: 'needs a token' }).waitFor({ timeout: 5000 });
    if (await page.locator('[data-gpu-cell]').count()) throw new Error('workers shown without a token');
    await page.locator('#token-input').fill(readToken);
    await page.locator('#token-form button[value="save"]').click();
  });

  await step('the page shows every worker, healthy, with its GPUs; a worker\'s page has its card', async () => {
    await page.locator('[data-worker-row="w-alpha"] .pill', { hasText: 'healthy' }).waitFor({ timeout: 15_000 });
    await page.locator('[data-worker-row="w-beta"] .pill', { hasText: 'healthy' }).waitFor({ timeout: 15_000 });
    const rows = await page.locator('[data-worker-row]').count();
    if (rows !== 2) throw new Error(`${rows} worker rows, expected 2`);
    const cells = await page.locator('[data-gpu-cell]').count();
    if (cells !== 3) throw new Error(`${cells} GPU cells, expected 3`);
    if (await page.locator('[data-worker]').count()) throw new Error('worker cards on the main page');
    await page.locator('[data-worker-row="w-alpha"] a').click();
    await page.locator('[data-worker="w-alpha"] [data-role="state"]', { hasText: 'healthy' }).waitFor({ timeout: 5000 });
    const sub = await page.locator('[data-worker="w-alpha"] .worker-sub').textContent();
    if (!sub.includes('2 × NVIDIA H100 80GB HBM3')) throw new Error(`capacity line: ${sub}`);
  });

  await step('a GPU\'s utilization is shown live, pushed over server-sent events', async () => {
    await waitFor('w-alpha GPU 0 at 30% on its card',
      async () => (await page.locator('[data-gpu-util="w-alpha/0"]').textContent()) === '30%');
    const age = await page.locator('[data-worker="w-alpha"] [data-role="age"]').textContent();
    if (!/last heartbeat [\d.]+ s ago/.test(age)) throw new Error(`heartbeat age: ${age}`);
    await page.goto(`${base}/#`);
    await waitFor('w-alpha GPU 0 at 30%', async () => (await utilOf('w-alpha', 0)) === '30%');
    await waitFor('w-beta GPU 0 at 10%', async () => (await utilOf('w-beta', 0)) === '10%');
    const mode = await page.locator('#conn').getAttribute('data-mode');
    if (mode !== 'sse') throw new Error(`connection mode ${mode}`);
  });

  await step('charts of the last hour are drawn from the history endpoint', async () => {
    await page.goto(`${base}/#worker=w-alpha`);
    await waitFor('utilization lines', async () =>
      (await page.locator('[data-worker="w-alpha"] .chart path.series').count()) >= 8);
    const titles = await page.locator('[data-worker="w-alpha"] .chart-head > span:first-child').allTextContents();
    for (const want of ['Utilization (%)', 'Memory used (GiB)', 'Temperature (°C)', 'Power (W)']) {
      if (!titles.includes(want)) throw new Error(`no chart "${want}" in ${titles.join(', ')}`);
    }
  });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-worker.png'), fullPage: true });
  await page.goto(`${base}/#`);

  await step('the figure follows the simulator\'s load within a few seconds', async () => {
    alphaGpus[0].utilization_gpu = 85;
    cluster.writeScenario('w-alpha', alphaGpus);
    const changedAt = Date.now();
    await waitFor('w-alpha GPU 0 at 85%', async () => (await utilOf('w-alpha', 0)) === '85%', 10_000);
    console.log(`  (the page showed the new load ${Date.now() - changedAt} ms after the scenario changed)`);
  });

  const hostile = '<img src=x onerror="window.__pwned=1">';
  let apiTask;
  await step('a task submitted through the API appears and finishes', async () => {
    apiTask = await cluster.submit({ name: hostile, argv: ['/bin/sh', '-c', 'echo hello from gpulse; sleep 1'], gpus: 1 });
    const row = page.locator(`[data-task="${apiTask}"]`);
    await row.waitFor({ timeout: 5000 });
    await row.locator('[data-role="task-state"]', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    await row.locator('[data-role="cancel"]').waitFor({ state: 'hidden', timeout: 2000 });  // finished: nothing to cancel
    const name = await row.locator('.name').textContent();
    if (name !== hostile) throw new Error(`name shown as ${name}`);
    if (await page.locator('#tasks img').count()) throw new Error('a task name turned into an element');
    if (await page.evaluate(() => window.__pwned)) throw new Error('a task name ran a script');
  });

  await step('its output is shown in the log viewer', async () => {
    await page.locator(`[data-task="${apiTask}"] button`, { hasText: 'Logs' }).click();
    await page.locator('#logs-body', { hasText: 'hello from gpulse' }).waitFor({ timeout: 5000 });
    await page.locator('#logs-status', { hasText: 'attempt 1 of 3 · task succeeded' }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-logs.png') });
    await page.locator('#logs-dialog [data-close]').click();
  });

  let formTask;
  await step('the read token cannot submit; the admin token can, and cancel stops the task', async () => {
    await page.locator('#submit-toggle').click();
    await page.locator('#submit-form input[name="command"]').fill("/bin/sh -c 'echo started; sleep 60'");
    await page.locator('#submit-form input[name="name"]').fill('long job');
    await page.locator('#submit-form input[name="gpus"]').fill('1');
    await page.locator('#submit-form button[type="submit"]').click();
    await page.locator('#submit-result', { hasText: 'read-only token' }).waitFor({ timeout: 5000 });
    await page.locator('#token-dialog[open]').waitFor({ timeout: 5000 });  // it asks for the admin token
    await page.locator('#token-input').fill(token);
    await page.locator('#token-form button[value="save"]').click();
    await page.locator('#submit-form button[type="submit"]').click();
    const result = await waitFor('the submit result', async () => {
      const text = await page.locator('#submit-result').textContent();
      return text.startsWith('Submitted ') ? text : null;
    });
    formTask = result.replace('Submitted ', '');
    const row = page.locator(`[data-task="${formTask}"]`);
    await row.locator('[data-role="task-state"]', { hasText: 'running' }).waitFor({ timeout: 15_000 });
    const stored = await cluster.getJson(`/api/tasks/${formTask}`);
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
    await page.locator('#submit-result', { hasText: 'wrong token' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('Escape');  // the token dialog opened for a new one
    // The pages below read with the read token.
    await page.evaluate((t) => localStorage.setItem('gpulse.token', t), readToken);
  });

  await step('a page that cannot hold a stream polls instead', async () => {
    const polling = await context.newPage();
    await polling.goto(`${base}/?live=poll`);
    await polling.locator('[data-gpu-cell="w-beta/0"][data-pct="10%"]').waitFor({ timeout: 10_000 });
    const mode = await polling.locator('#conn').getAttribute('data-mode');
    if (mode !== 'polling') throw new Error(`connection mode ${mode}`);
    await polling.close();
  });

  await step('past the cap on live streams, a page falls back to polling', async () => {
    // The master serves 4 event streams; this page holds one. Three more
    // pages take the rest, and the fifth is refused and polls.
    const extra = [];
    for (let i = 0; i < 4; i++) {
      const p = await context.newPage();
      await p.goto(`${base}/`);
      await p.locator('[data-gpu-cell="w-beta/0"]').waitFor({ timeout: 10_000 });
      extra.push(p);
    }
    const modes = await Promise.all(extra.map((p) => p.locator('#conn').getAttribute('data-mode')));
    await Promise.all(extra.map((p) => p.close()));
    if (JSON.stringify(modes) !== JSON.stringify(['sse', 'sse', 'sse', 'polling'])) {
      throw new Error(`connection modes ${modes.join(', ')}`);
    }
  });

  await step('older tasks are the API\'s next page, asked for with its cursor', async () => {
    // 55 more tasks that wait for a 64-GPU worker: 57 in all, two pages.
    await Promise.all(Array.from({ length: 55 }, () => cluster.submit({ argv: ['/bin/true'], gpus: 64, allow_unfit: true })));
    await page.locator('#tasks-page', { hasText: 'page 1 of 2' }).waitFor({ timeout: 10_000 });
    if (await page.locator(`[data-task="${apiTask}"]`).count()) throw new Error('the oldest task is on page 1');
    const asked = [];
    const listen = (request) => { if (request.url().includes('/api/tasks?limit=50&cursor=')) asked.push(request.url()); };
    page.on('request', listen);
    await page.locator('#tasks-next').click();
    await page.locator(`[data-task="${apiTask}"]`).waitFor({ timeout: 10_000 });
    await page.locator('#tasks-page', { hasText: 'page 2 of 2' }).waitFor({ timeout: 2000 });
    page.off('request', listen);
    if (asked.length === 0) throw new Error('page 2 was not asked of the API with a cursor');
    if (await page.locator('#tasks tbody tr').count() !== 7) throw new Error('page 2 does not hold the 7 oldest');
    if (!(await page.locator('#tasks-next').isDisabled())) throw new Error('a page after the last');
    await page.locator('#tasks-prev').click();
    await page.locator('#tasks-page', { hasText: 'page 1 of 2' }).waitFor({ timeout: 5000 });
    if (await page.locator('#tasks tbody tr').count() !== 50) throw new Error('page 1 does not hold 50');
  });

  await step('no script error, and nothing loaded from outside the master', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('; '));
    if (foreign.length) throw new Error(`requests elsewhere: ${foreign.join(', ')}`);
  });

  await page.locator('#tasks').scrollIntoViewIfNeeded();  // page 1 of the tasks (the oldest are on page 2 now)
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  exitCode = results.every((r) => r.ok) ? 0 : 1;
} catch (err) {
  console.log(`not ok - setting up: ${err.stack || err.message}`);
  results.push({ name: 'setup', ok: false });
} finally {
  clearTimeout(watchdog);
  if (context) await context.close().catch(() => {});
  if (exitCode !== 0) console.log(cluster.logs());
  await cluster.stop();
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(exitCode);
