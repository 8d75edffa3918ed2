// Measures what one open dashboard receives over /api/events while the
// cluster is idle but large: a master, --workers simulated workers of 8 GPUs
// heartbeating every second (bench/fleet_sim.cc), and --tasks queued tasks
// (each wants 8 GPUs; one runs, the rest wait). Prints the first event's
// size and the bytes per second after it. docs/benchmarks.md has the figures.
//
//   node web/e2e/sse_bytes.mjs [--workers 2] [--tasks 10000] [--seconds 10]

import { Cluster, missingBinaries, sleep } from './cluster.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const workers = arg('workers', 2);
const tasks = arg('tasks', 10000);
const seconds = arg('seconds', 10);

if (missingBinaries().length) throw new Error(`not built: ${missingBinaries().join(', ')}`);
const cluster = new Cluster();
try {
  await cluster.startMaster();
  await cluster.startFleet(workers, 8);
  const started = Date.now();
  const batch = 4;  // more at once only queues them in the master's HTTP pool
  for (let i = 0; i < tasks; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, tasks - i) },
      () => cluster.submit({ argv: ['/bin/true'], gpus: 8 })));
  }
  console.log(`submitted ${tasks} tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const res = await fetch(`${cluster.url}/api/events`, { headers: { Authorization: `Bearer ${cluster.readToken}` } });
  const reader = res.body.getReader();
  let text = '';
  let firstBytes = 0;
  // The first event: the snapshot.
  while (!/\n\n(event|:)/.test(text.slice(20)) && !text.includes('event: snapshot')) {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
  }
  for (;;) {
    const end = text.indexOf('\n\n', text.indexOf('event: snapshot'));
    if (end >= 0) { firstBytes = Buffer.byteLength(text.slice(0, end + 2)); break; }
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
  }
  let bytes = 0;
  let events = 0;
  const until = Date.now() + seconds * 1000;
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (Date.now() > until) return;
      bytes += value.length;
      events += (new TextDecoder().decode(value).match(/^event: /gm) || []).length;
    }
  })();
  await Promise.race([pump, sleep(seconds * 1000 + 200)]);
  const summary = await cluster.getJson('/api/dashboard');
  console.log(`queued ${summary.summary.tasks.queued}, running ${summary.summary.tasks.running}, workers ${summary.workers.length}`);
  console.log(`first event (snapshot): ${firstBytes} bytes`);
  console.log(`then ${events} events, ${bytes} bytes in ${seconds} s: ${(bytes / seconds / 1024).toFixed(2)} KiB/s`);
} finally {
  await cluster.stop();
}
process.exit(0);
