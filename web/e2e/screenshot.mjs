// Refreshes docs/dashboard.png: a small simulated cluster with varying load
// and a few tasks, run for a couple of minutes so the charts have a shape,
// then photographed in headless Chromium. Not a test; run by hand:
//   node web/e2e/screenshot.mjs            (after building, with npm ci done)

import { join } from 'node:path';

import { CHROMIUM, CHROMIUM_ARGS, Cluster, ROOT, missingBinaries, missingPrerequisite, simGpu, sleep, waitFor } from './cluster.mjs';

const WARM_UP_S = Number(process.env.GPULSE_SCREENSHOT_WARM_UP_S || 150);

const missing = (await missingPrerequisite()) || (missingBinaries().length ? `not built: ${missingBinaries()}` : null);
if (missing) {
  console.error(missing);
  process.exit(1);
}
const { chromium } = await import('playwright-core');

const wave = (min, max, period, phase = 0) => ({ min, max, period_s: period, phase_s: phase, shape: 'sine' });
const uuid = (n) => `GPU-5b4e07f6-3a86-4340-039d-${String(n).padStart(12, '0')}`;
const cluster = new Cluster();
let context;
try {
  await cluster.startMaster();
  cluster.startWorker('gpu-node-1', [0, 1, 2, 3].map((i) => simGpu('NVIDIA H100 80GB HBM3', uuid(i),
    wave(35 + 10 * i, 95, 40 + 7 * i, 5 * i), {
      memory_used_mib: wave(20000 + 8000 * i, 70000, 90 + 10 * i, i * 9),
      temperature_c: wave(48 + i, 71, 60 + 5 * i, i * 4),
      power_w: wave(260 + 20 * i, 640, 40 + 7 * i, 5 * i),
    })));
  cluster.startWorker('gpu-node-2', [0, 1].map((i) => simGpu('NVIDIA A100-SXM4-80GB', uuid(10 + i),
    wave(5 + 10 * i, 45 + 15 * i, 70 - 20 * i, 25 * i), {
      memory_used_mib: 30000 + 25000 * i,
      temperature_c: wave(38 + 4 * i, 52 + 6 * i, 80, 30 * i),
      power_w: wave(90 + 30 * i, 210 + 60 * i, 70 - 20 * i, 25 * i),
    })));
  await waitFor('workers', async () => (await cluster.getJson('/api/workers')).length === 2, 20_000);
  await cluster.submit({ name: 'train-llama', argv: ['/bin/sh', '-c', 'echo epoch 1; sleep 600'], gpus: 2, cpus: 1 });
  await cluster.submit({ name: 'eval', argv: ['/bin/sh', '-c', 'echo accuracy 0.91'], gpus: 1 });
  await cluster.submit({ name: 'preprocess', argv: ['/bin/sh', '-c', 'echo missing input >&2; exit 2'] });
  await sleep(WARM_UP_S * 1000);
  context = await chromium.launchPersistentContext(join(cluster.dir, 'chromium-profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  await page.goto(`${cluster.url}/`);
  await page.locator('[data-worker="gpu-node-2"] .chart path.series').first().waitFor({ timeout: 10_000 });
  await sleep(1500);
  const out = join(ROOT, 'docs/dashboard.png');
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  if (context) await context.close().catch(() => {});
  await cluster.stop();
}
