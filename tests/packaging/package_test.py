#!/usr/bin/env python3
"""The Debian package, end to end: build it with CPack from this build tree,
check its control fields, files and maintainer scripts, verify its systemd
units, then run a master and a worker from the package's own files and
config (on the NVML simulator it ships), run a task, back the state up and
restore it into a new data dir.

As root with CI set (or GPULSE_TEST_DPKG=1) it also installs the package
with dpkg -i on this machine, checks the user, directories and conffiles,
and removes it again (dpkg -r keeps the data; the test then purges and
removes only what it created).

Usage: package_test.py BUILD_DIR
"""
import glob
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    return condition


def run(args, **kwargs):
    kwargs.setdefault("check", True)
    kwargs.setdefault("timeout", 600)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def wait_for(predicate, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def project_version(build_dir):
    with open(os.path.join(build_dir, "CMakeCache.txt")) as cache:
        for line in cache:
            if line.startswith("CMAKE_PROJECT_VERSION:"):
                return line.strip().split("=", 1)[1]
    raise AssertionError("no CMAKE_PROJECT_VERSION in CMakeCache.txt")


def build_package(build_dir, out_dir):
    run(["cpack", "-G", "DEB", "-B", out_dir], cwd=build_dir, timeout=900)
    debs = glob.glob(os.path.join(out_dir, "gpulse_*_amd64.deb"))
    assert len(debs) == 1, "expected one gpulse_<version>_amd64.deb, found %s" % debs
    return debs[0]


def check_control(deb, version):
    fields = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout
    control = dict(line.split(": ", 1) for line in fields.strip().splitlines())
    check(control.get("Package") == "gpulse", "package name is gpulse: %s" % control)
    check(control.get("Version") == version, "version %s is the project's %s" % (control.get("Version"), version))
    check(control.get("Architecture") == "amd64", "architecture amd64")
    depends = control.get("Depends", "")
    # Derived by dpkg-shlibdeps from what the binaries link, plus adduser.
    for lib in ("adduser", "libsqlite3-0", "libgrpc++", "libprotobuf", "libc6"):
        check(lib in depends, "Depends names %s: %s" % (lib, depends))


def check_files(deb, root, control_dir):
    run(["dpkg-deb", "-x", deb, root])
    run(["dpkg-deb", "-e", deb, control_dir])
    for path in ("usr/bin/gpulse", "usr/bin/gpulse-master", "usr/bin/gpulse-worker"):
        full = os.path.join(root, path)
        check(os.path.isfile(full) and os.access(full, os.X_OK), path + " is an executable")
    for path in ("usr/lib/gpulse/libnvidia-ml-sim.so", "usr/lib/systemd/system/gpulse-master.service",
                 "usr/lib/systemd/system/gpulse-worker.service", "etc/gpulse/master.toml", "etc/gpulse/worker.toml",
                 "usr/share/doc/gpulse/README.md", "usr/share/doc/gpulse/examples/master.toml",
                 "usr/share/gpulse/nvml-sim-scenarios/two-gpus.json"):
        check(os.path.isfile(os.path.join(root, path)), path + " is in the package")
    with open(os.path.join(control_dir, "conffiles")) as f:
        conffiles = f.read().split()
    check(sorted(conffiles) == ["/etc/gpulse/master.toml", "/etc/gpulse/worker.toml"],
          "the config files are conffiles: %s" % conffiles)
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control_dir, script)
        check(os.access(path, os.X_OK), script + " is executable")
        check(run(["sh", "-n", path], check=False).returncode == 0, script + " is valid sh")


def verify_units(root, tmp):
    """systemd-analyze verify on the units, their ExecStart pointed into the
    extracted package (verify checks that the program exists)."""
    if shutil.which("systemd-analyze") is None:
        check(not os.environ.get("CI"), "systemd-analyze is available in CI")
        print("skipped: systemd-analyze is not installed")
        return
    unit_dir = os.path.join(tmp, "units")
    os.makedirs(unit_dir)
    for unit in ("gpulse-master.service", "gpulse-worker.service"):
        with open(os.path.join(root, "usr/lib/systemd/system", unit)) as f:
            text = f.read()
        text = text.replace("/usr/bin/", os.path.join(root, "usr/bin/"))
        with open(os.path.join(unit_dir, unit), "w") as f:
            f.write(text)
    result = run(["systemd-analyze", "verify", "--man=no"] + glob.glob(os.path.join(unit_dir, "*.service")),
                 check=False)
    # Lines about the machine's own units are not ours.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "gpulse" in line]
    check(result.returncode == 0 and not ours, "systemd-analyze verify passes: %s" % ours)


class Daemon:
    def __init__(self, args, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self):
        with open(self.log_path) as f:
            return f.read()


def api(base, path, token, body=None, ca_file=None):
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    request.add_header("Authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(request, data=data, timeout=10, context=context) as response:
        return json.load(response)


def start_master(root, data_dir, tmp, name):
    ports_file = os.path.join(tmp, name + ".ports")
    master = Daemon([os.path.join(root, "usr/bin/gpulse-master"), "--config", os.path.join(root, "etc/gpulse/master.toml"),
                     "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                     "--ports-file", ports_file], os.path.join(tmp, name + ".log"))
    ports = wait_for(lambda: os.path.exists(ports_file) and json.load(open(ports_file)), "the master's ports file")
    return master, ports


def run_from_package(root, tmp):
    """Master and worker from the extracted files, with the shipped config."""
    master_bin = os.path.join(root, "usr/bin/gpulse-master")
    config = os.path.join(root, "etc/gpulse/master.toml")
    printed = run([master_bin, "--config", config, "--cancel-grace", "3", "--print-config"]).stdout
    check('data_dir = "/var/lib/gpulse"  # ' + config in printed, "--print-config names the config file:\n" + printed)
    check("cancel_grace = 3  # flag" in printed, "--print-config says a flag won:\n" + printed)

    data_dir = os.path.join(tmp, "data")
    master, ports = start_master(root, data_dir, tmp, "master")
    worker = None
    try:
        # TLS by default: the master made the cluster CA in its data dir.
        base = "https://127.0.0.1:%d" % ports["http_port"]
        ca_file = os.path.join(data_dir, "pki", "ca.crt")
        token_file = os.path.join(data_dir, "token")
        token = open(token_file).read().strip()
        env = dict(os.environ,
                   GPULSE_NVML_LIBRARY=os.path.join(root, "usr/lib/gpulse/libnvidia-ml-sim.so"),
                   GPULSE_NVML_SIM_SCENARIO=os.path.join(root, "usr/share/gpulse/nvml-sim-scenarios/two-gpus.json"))
        worker = Daemon([os.path.join(root, "usr/bin/gpulse-worker"), "--config",
                         os.path.join(root, "etc/gpulse/worker.toml"), "--master", "127.0.0.1:%d" % ports["grpc_port"],
                         "--token-file", token_file, "--ca-file", ca_file, "--work-dir", os.path.join(tmp, "work"), "--id", "pkg-worker",
                         "--interval", "1"], os.path.join(tmp, "worker.log"), env=env)
        wait_for(lambda: any(w["state"] == "healthy" and len(w["gpus"]) == 2
                             for w in api(base, "/api/workers", token, ca_file=ca_file)), "the packaged worker with 2 simulated GPUs")
        task = api(base, "/api/tasks", token, {"argv": ["sh", "-c", "echo from the package"], "gpus": 1}, ca_file)
        done = wait_for(lambda: (lambda t: t if t["state"] in ("succeeded", "failed", "cancelled") else None)(
            api(base, "/api/tasks/" + task["id"], token, ca_file=ca_file)), "the task to finish")
        check(done["state"] == "succeeded", "the task ran: %s" % done)

        # Back up while the master runs; restore into a new data dir, where a
        # master finds the task.
        backup = os.path.join(tmp, "backup.db")
        run([master_bin, "--config", config, "--data-dir", data_dir, "backup", "--to", backup])
        restored = os.path.join(tmp, "restored")
        run([master_bin, "--config", config, "restore", "--from", backup, "--data-dir", restored])
        second, second_ports = start_master(root, restored, tmp, "restored-master")
        try:
            token2 = open(os.path.join(restored, "token")).read().strip()
            # The restored data dir has no CA yet: the second master made its own.
            found = api("https://127.0.0.1:%d" % second_ports["http_port"], "/api/tasks/" + task["id"], token2,
                        ca_file=os.path.join(restored, "pki", "ca.crt"))
            check(found["state"] == "succeeded", "the restored master has the task: %s" % found)
        finally:
            second.stop()
    except Exception:
        print(master.output())
        if worker:
            print(worker.output())
        raise
    finally:
        if worker:
            worker.stop()
        master.stop()


def dpkg_install(deb):
    """dpkg -i on this machine: only as root in CI (a throwaway machine)."""
    wanted = os.environ.get("GPULSE_TEST_DPKG") == "1" or bool(os.environ.get("CI"))
    if os.geteuid() != 0 or not wanted:
        print("skipped dpkg -i: needs root and CI=true (or GPULSE_TEST_DPKG=1)")
        return
    if run(["dpkg-query", "-W", "gpulse"], check=False).returncode == 0:
        print("skipped dpkg -i: a gpulse package is installed on this machine already")
        return
    created = [d for d in ("/var/lib/gpulse", "/var/lib/gpulse-worker", "/etc/gpulse") if not os.path.exists(d)]
    user_existed = run(["getent", "passwd", "gpulse"], check=False).returncode == 0
    try:
        run(["dpkg", "-i", deb])
        user = run(["getent", "passwd", "gpulse"], check=False)
        check(user.returncode == 0, "postinst made the gpulse user")
        st = os.stat("/var/lib/gpulse")
        check(oct(st.st_mode & 0o777) == "0o700", "/var/lib/gpulse is 0700: %o" % (st.st_mode & 0o777))
        if user.returncode == 0:
            check(st.st_uid == int(user.stdout.split(":")[2]), "/var/lib/gpulse belongs to gpulse")
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "gpulse"]).stdout
        check("/etc/gpulse/master.toml" in conffiles and "/etc/gpulse/worker.toml" in conffiles,
              "dpkg knows the conffiles: %s" % conffiles)
        check(run(["/usr/bin/gpulse-master", "--help"], check=False).returncode == 0, "the installed master runs")
        with open("/var/lib/gpulse/keep-me", "w") as f:
            f.write("state")
        run(["dpkg", "-r", "gpulse"])
        check(not os.path.exists("/usr/bin/gpulse-master"), "dpkg -r removes the programs")
        check(os.path.exists("/var/lib/gpulse/keep-me"), "dpkg -r leaves the data")
    finally:
        run(["dpkg", "--purge", "gpulse"], check=False)
        for d in created:
            shutil.rmtree(d, ignore_errors=True)
        if not user_existed:
            run(["deluser", "--system", "gpulse"], check=False)


def main():
    build_dir = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="gpulse-package-")
    # Like the package's state dir (0711): a root worker runs tasks as
    # `nobody`, who must reach its task folder below, not list this one.
    os.chmod(tmp, 0o711)
    try:
        deb = build_package(build_dir, os.path.join(tmp, "out"))
        check_control(deb, project_version(build_dir))
        root = os.path.join(tmp, "root")
        check_files(deb, root, os.path.join(tmp, "control"))
        verify_units(root, tmp)
        run_from_package(root, tmp)
        dpkg_install(deb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("package checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
