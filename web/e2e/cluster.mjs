// A throwaway gpulse cluster for browser tests: a real gpulse-master and
// gpulse-workers on the NVML simulator, on loopback (the master on ports it
// picks itself), in a temporary directory that stop() removes along with every process.

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.GPULSE_BIN_DIR || join(ROOT, 'build/bin');
export const LIB = process.env.GPULSE_LIB_DIR || join(ROOT, 'build/lib');
export const CHROMIUM = process.env.GPULSE_CHROMIUM || '/usr/bin/chromium';

// Flags for Chromium in a sandbox-less, network-less test: nothing is
// fetched from the internet, nothing is kept between runs.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Whether this is a CI run (CI=true): there a missing prerequisite fails the
// test instead of skipping it.
export const IN_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

// Why the browser test cannot run here, or null when it can.
export async function missingPrerequisite() {
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (run: npm ci --prefix web/e2e)';
  }
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return null;
}

// The gpulse files the cluster needs that are not built yet.
export function missingBinaries() {
  return [join(BIN, 'gpulse-master'), join(BIN, 'gpulse-worker'), join(LIB, 'libnvidia-ml-sim.so')]
    .filter((f) => !existsSync(f));
}

// Polls `condition` every 50 ms until it returns something truthy (which is
// returned) or `timeoutMs` passes (which throws, naming `what`).
export async function waitFor(what, condition, timeoutMs = 10_000) {
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

// A simulated GPU for a scenario file (see tools/nvml-sim/README.md).
export function simGpu(name, uuid, utilization, extra = {}) {
  return { name, uuid, utilization_gpu: utilization, memory_total_mib: 81559, memory_used_mib: 20480,
    temperature_c: 55, power_w: 310, ...extra };
}

export class Cluster {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'gpulse-e2e-'));
    // As the package's state dir (0711): a worker run as root runs tasks as
    // `nobody`, who must reach its task folder below, not list this one.
    chmodSync(this.dir, 0o711);
    this.children = [];
  }

  spawn(name, argv, env = {}) {
    const log = openSync(join(this.dir, `${name}.log`), 'a');
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
    child.logName = name;
    this.children.push(child);
    return child;
  }

  // On port 0: the master picks free ports and names them in its ports
  // file, so parallel runs never race for one. Plaintext (--insecure, on
  // loopback): the browser test is about the page, and it keeps the
  // --insecure path of master and worker covered; TLS is the integration
  // tests' default.
  async startMaster() {
    this.dataDir = join(this.dir, 'master');
    const portsFile = join(this.dir, 'master-ports.json');
    this.spawn('master', [join(BIN, 'gpulse-master'), '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0',
      '--data-dir', this.dataDir, '--ports-file', portsFile, '--insecure', '--max-live-dashboards', '4']);
    const ports = await waitFor('the master to listen', () => existsSync(portsFile) && JSON.parse(readFileSync(portsFile, 'utf8')));
    this.grpcAddress = `127.0.0.1:${ports.grpc_port}`;
    this.url = `http://127.0.0.1:${ports.http_port}`;
    await waitFor('the master to answer', async () => (await fetch(`${this.url}/healthz`)).ok);
    this.token = readFileSync(join(this.dataDir, 'token'), 'utf8').trim();
    this.readToken = readFileSync(join(this.dataDir, 'read-token'), 'utf8').trim();
  }

  // Writes a scenario the way an operator would change it: a new file renamed
  // over the old one (the simulator rereads it when it changes).
  writeScenario(id, gpus) {
    const path = join(this.dir, `${id}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify({ driver_version: '580.65.06', gpus }, null, 2));
    renameSync(`${path}.tmp`, path);
    return path;
  }

  startWorker(id, gpus, interval = 1) {
    const scenario = this.writeScenario(id, gpus);
    this.spawn(id, [join(BIN, 'gpulse-worker'), '--master', this.grpcAddress, '--id', id, '--interval', String(interval),
      '--token-file', join(this.dataDir, 'token'), '--work-dir', join(this.dir, `${id}-work`), '--insecure'],
    { GPULSE_NVML_LIBRARY: join(LIB, 'libnvidia-ml-sim.so'), GPULSE_NVML_SIM_SCENARIO: scenario });
  }

  // Many simulated workers in one process (bench/fleet_sim.cc): `count`
  // workers of `gpus` GPUs each, ids sim-0000, sim-0001, …, figures from
  // the scenario `fleet` (writeFleetScenario). Resolves once all registered.
  async startFleet(count, gpus = 8, scenario = {}, interval = 1) {
    const path = this.writeFleetScenario(scenario);
    const child = this.spawn('fleet', [join(BIN, 'gpulse-fleet-sim'), '--master', this.grpcAddress,
      '--token-file', join(this.dataDir, 'token'), '--insecure', '--workers', String(count), '--gpus', String(gpus),
      '--interval', String(interval), '--scenario', path]);
    await waitFor(`${count} simulated workers to register`, () =>
      readFileSync(join(this.dir, 'fleet.log'), 'utf8').includes(`ready ${count}`), 30_000);
    return child;
  }

  // The fleet simulator's scenario, renamed over the old one.
  writeFleetScenario(scenario) {
    const path = join(this.dir, 'fleet.json');
    writeFileSync(`${path}.tmp`, JSON.stringify(scenario));
    renameSync(`${path}.tmp`, path);
    return path;
  }

  async submit(body) {
    const res = await fetch(`${this.url}/api/tasks`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 201) throw new Error(`submit: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()).id;
  }

  // With the read token.
  async getJson(path) {
    return (await fetch(`${this.url}${path}`, { headers: { Authorization: `Bearer ${this.readToken}` } })).json();
  }

  // The tail of every process's log, for a failure report.
  logs() {
    return this.children.map((c) => {
      const path = join(this.dir, `${c.logName}.log`);
      return `--- ${c.logName}\n${existsSync(path) ? readFileSync(path, 'utf8').slice(-3000) : ''}`;
    }).join('\n');
  }

  // SIGTERM to everything, SIGKILL after 3 s, then the directory goes.
  async stop() {
    const running = (c) => c.exitCode === null && c.signalCode === null;
    for (const c of this.children) if (running(c)) c.kill('SIGTERM');
    const deadline = Date.now() + 3000;
    for (const c of this.children) {
      while (running(c) && Date.now() < deadline) await sleep(20);
      if (running(c)) c.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
