#!/usr/bin/env python3
"""Failover timings with the real binaries on loopback (issue 8, docs/benchmarks.md).

Two measurements, each on the settings given:

  worker-death   kill -9 of the worker that runs N tasks (sleep), until the
                 API shows every one of them running on the other worker.
  master-restart kill -9 or SIGTERM of the master while M tasks run on two
                 workers, restarted at once on the same ports, until the API
                 shows both workers connected and every task running on its
                 worker again with its attempt unchanged (re-adopted).

Everything runs plaintext on 127.0.0.1 with the NVML simulator (10 GPUs
per worker; each task is `sleep 3600` on one GPU and no cores), from
$BUILD (default build/): gpulse-master, gpulse-worker,
gpulse-task-supervisor and lib/libnvidia-ml-sim.so. The script stops what it
started by pid: the master and workers, and the task supervisors they left
(read from each attempt's state file, told to cancel, then SIGKILL after
10 s). Usage:

  scripts/measure-failover.py [--interval S] [--task-lease S]
                              [--tasks N] [--restart-tasks M] [--runs R]
                              [--only worker-death|master-restart]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("BUILD", "build")
POLL = 0.05  # seconds between API polls: the resolution of every figure
GPUS_PER_WORKER = 10  # simulated; each task takes one


def fail(message):
    raise RuntimeError(message)


class Master:
    def __init__(self, root, lease):
        self.data = os.path.join(root, "master")
        self.ports_file = os.path.join(root, "ports")
        self.log = open(os.path.join(root, "master.log"), "ab")
        self.lease = lease
        self.grpc = 0
        self.http = 0
        self.proc = None

    def start(self):
        if os.path.exists(self.ports_file):
            os.unlink(self.ports_file)
        argv = [os.path.join(BUILD, "bin", "gpulse-master"), "--insecure", "--data-dir", self.data,
                "--listen", "127.0.0.1:%d" % self.grpc, "--http", "127.0.0.1:%d" % self.http,
                "--ports-file", self.ports_file]
        if self.lease:
            argv += ["--task-lease", str(self.lease)]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.ports_file) or os.path.getsize(self.ports_file) == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail("gpulse-master did not start; see " + self.log.name)
            time.sleep(0.02)
        ports = json.load(open(self.ports_file))
        self.grpc, self.http = ports["grpc_port"], ports["http_port"]
        self.token = open(os.path.join(self.data, "token")).read().strip()

    def api(self, method, path, body=None):
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http, path), method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + self.token})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return json.loads(reply.read() or b"null")
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


class Worker:
    def __init__(self, root, master, worker_id, interval):
        self.id = worker_id
        self.work = os.path.join(root, worker_id + "-work")
        scenario = os.path.join(root, worker_id + ".json")
        with open(scenario, "w") as f:
            json.dump({"driver_version": "550.54.15",
                       "gpus": [{"model": "NVIDIA H100 80GB HBM3", "utilization_gpu": 0}] * GPUS_PER_WORKER}, f)
        env = dict(os.environ, GPULSE_NVML_SIM_SCENARIO=scenario,
                   GPULSE_NVML_LIBRARY=os.path.join(BUILD, "lib", "libnvidia-ml-sim.so"))
        self.log = open(os.path.join(root, worker_id + ".log"), "ab")
        argv = [os.path.join(BUILD, "bin", "gpulse-worker"), "--insecure", "--master",
                "127.0.0.1:%d" % master.grpc, "--token-file", os.path.join(master.data, "token"),
                "--id", worker_id, "--work-dir", self.work, "--interval", str(interval),
                "--task-user", "root"]
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop_supervisors(self):
        """Cancels and reaps the task supervisors this worker left (by pid)."""
        attempts = os.path.join(self.work, "attempts")
        pids = []
        for name in os.listdir(attempts) if os.path.isdir(attempts) else []:
            try:
                state = json.load(open(os.path.join(attempts, name, "state")))
                pid = int(state["supervisor_pid"])
                cmdline = open("/proc/%d/cmdline" % pid, "rb").read()
            except (OSError, ValueError, KeyError):
                continue
            if b"gpulse-task-supervisor" not in cmdline:
                continue  # exited; the pid may be someone else's now
            with open(os.path.join(attempts, name, "cancel"), "w") as f:
                f.write("0\n")
            os.kill(pid, signal.SIGUSR1)
            pids.append(pid)
        deadline = time.monotonic() + 10
        for pid in pids:
            while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists("/proc/%d" % pid):
                os.kill(pid, signal.SIGKILL)


def wait_for(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL)
    fail("timed out waiting for " + what)


def healthy(master, worker_id):
    w = master.api("GET", "/api/workers/" + worker_id)
    return w is not None and w.get("state") == "healthy" and w.get("connected") and w.get("heartbeats", 0) >= 1


def submit(master, count):
    ids = []
    for _ in range(count):
        reply = master.api("POST", "/api/tasks", {"argv": ["/bin/sleep", "3600"], "cpus": 0, "gpus": 1})
        if not reply or "id" not in reply:
            fail("submission refused: %r" % reply)
        ids.append(reply["id"])
    return ids


def tasks(master, ids):
    out = {}
    for task_id in ids:
        t = master.api("GET", "/api/tasks/" + task_id)
        if t is None:
            return None
        out[task_id] = t
    return out


def measure_worker_death(root, args):
    os.makedirs(root)
    master = Master(root, args.task_lease)
    workers = []
    try:
        master.start()
        a = Worker(root, master, "fw-a", args.interval)
        workers.append(a)
        wait_for("fw-a healthy", lambda: healthy(master, "fw-a"), 30)
        ids = submit(master, args.tasks)
        wait_for("tasks running on fw-a", lambda: (lambda ts: ts and all(
            t["state"] == "running" and t["worker"] == "fw-a" for t in ts.values()))(tasks(master, ids)), 60)
        b = Worker(root, master, "fw-b", args.interval)
        workers.append(b)
        wait_for("fw-b healthy", lambda: healthy(master, "fw-b"), 30)
        # Right after a heartbeat of fw-a, as a crash would be at any moment:
        # the figure then spans the whole lease (the worst case, within POLL).
        seen = master.api("GET", "/api/workers/fw-a")["heartbeats"]
        wait_for("a heartbeat of fw-a", lambda: master.api("GET", "/api/workers/fw-a")["heartbeats"] > seen, 30)
        killed = time.monotonic()
        a.stop(signal.SIGKILL)
        dead = wait_for("fw-a dead", lambda: master.api("GET", "/api/workers/fw-a")["state"] == "dead" and
                        time.monotonic(), args.task_lease_effective + 60)
        moved = wait_for("tasks running on fw-b", lambda: (lambda ts: ts and all(
            t["state"] == "running" and t["worker"] == "fw-b" for t in ts.values()))(tasks(master, ids)) and
                         time.monotonic(), args.task_lease_effective + 60)
        return {"dead_s": dead - killed, "running_elsewhere_s": moved - killed}
    finally:
        for w in workers:
            w.stop(signal.SIGKILL)
            w.stop_supervisors()
        master.stop()


def measure_master_restart(root, args, sig):
    os.makedirs(root)
    master = Master(root, args.task_lease)
    workers = []
    try:
        master.start()
        for worker_id in ("rw-a", "rw-b"):
            workers.append(Worker(root, master, worker_id, args.interval))
            wait_for(worker_id + " healthy", lambda: healthy(master, worker_id), 30)
        ids = submit(master, args.restart_tasks)  # one GPU each: spread over both workers
        before = wait_for("tasks running", lambda: (lambda ts: ts and all(
            t["state"] == "running" for t in ts.values()) and ts)(tasks(master, ids)), 60)
        placed = {i: (t["worker"], t["attempts"]) for i, t in before.items()}
        stopped = time.monotonic()
        master.stop(sig)
        master.start()
        up = time.monotonic()

        def readopted():
            for w in workers:
                info = master.api("GET", "/api/workers/" + w.id)
                # Heartbeats count from 0 in a new master: registered again, and heard from.
                if not info or not info.get("connected") or info.get("heartbeats", 0) < 1:
                    return False
            ts = tasks(master, ids)
            return ts is not None and all(t["state"] == "running" and (t["worker"], t["attempts"]) == placed[i]
                                          for i, t in ts.items())

        done = wait_for("tasks re-adopted", lambda: readopted() and time.monotonic(), 120)
        return {"master_up_s": up - stopped, "readopted_s": done - stopped}
    finally:
        for w in workers:
            w.stop(signal.SIGKILL)
            w.stop_supervisors()
        master.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=int, default=5, help="worker heartbeat interval, s (default 5)")
    parser.add_argument("--task-lease", type=int, default=0, help="master --task-lease, s (default: its own, 60)")
    parser.add_argument("--tasks", type=int, default=4, help="tasks on the worker that dies")
    parser.add_argument("--restart-tasks", type=int, default=20, help="tasks running across a master restart")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["worker-death", "master-restart"])
    args = parser.parse_args()
    args.task_lease_effective = args.task_lease or 60
    settings = "interval %d s, task lease %s" % (args.interval, "%d s" % args.task_lease if args.task_lease else
                                                  "default (60 s)")
    for run in range(args.runs):
        root = tempfile.mkdtemp(prefix="gpulse-failover.")
        try:
            if args.only in (None, "worker-death"):
                r = measure_worker_death(os.path.join(root, "death"), args)
                print("%s: kill -9 of a worker with %d tasks: dead after %.1f s, all running on the other "
                      "worker after %.1f s" % (settings, args.tasks, r["dead_s"], r["running_elsewhere_s"]),
                      flush=True)
            if args.only in (None, "master-restart"):
                for sig in (signal.SIGKILL, signal.SIGTERM):
                    r = measure_master_restart(os.path.join(root, "restart-%d" % sig), args, sig)
                    print("%s: master %s with %d running tasks: serving again after %.1f s, all re-adopted "
                          "after %.1f s" % (settings, "kill -9" if sig == signal.SIGKILL else "SIGTERM",
                                            args.restart_tasks, r["master_up_s"], r["readopted_s"]), flush=True)
        except Exception:
            print("failed; logs kept in " + root, file=sys.stderr)
            raise
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
