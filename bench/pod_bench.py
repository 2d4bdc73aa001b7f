#!/usr/bin/python3
"""`coco run` to the container's first output line, with attestation and an encrypted image,
phase by phase, side by side in the same run with:
  * the floor: the same QEMU (microvm, same accelerator, same kernel, same devices) booting a
    root image whose /init does nothing but power off;
  * the same VM whose static /init runs just one busybox container with crun (bundle already
    on its root image; no agent, attestation, pull or unpack): a lower bound for any pod;
  * `runc run` of the same image's bundle on the host (no VM at all).
Also the host memory per pod: QEMU + `coco run` resident memory (peak of samples while the pod
runs), and QEMU's PSS (its file-backed pages - QEMU itself, the kernel - are shared between pods).

Runs alternate (pod, floor, boot + crun, runc); run 1 is reported as cold (first pull of the image from the
registry, first QEMU start), the median of the rest as warm. Targets: pod total <= 1.3x the bare
boot; bare boot <= 1.0 s; memory per pod <= 150 MiB.

  bench/pod_bench.py [--runs 5] [--build build]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))

import kbs_harness as h  # noqa: E402
from image_harness import Registry, busybox_rootfs_entries, push_layout, write_oci_image  # noqa
import build_rootfs  # noqa: E402
from pod_test import qemu_pids_under  # noqa: E402


def qemu_pid_under(root):
    pids = qemu_pids_under(root)
    return pids[0] if pids else None


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemSampler:
    """Samples QEMU (found under `root`) and `coco_pid` every 20 ms; keeps the peaks."""

    def __init__(self, root, coco_pid):
        self.root, self.coco_pid = root, coco_pid
        self.rss = self.pss = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        qpid = None
        while not self.stop:
            qpid = qpid or qemu_pid_under(self.root)
            if qpid:
                q = status_kib(qpid, "VmRSS:")
                c = status_kib(self.coco_pid, "VmRSS:")
                if q:
                    self.rss = max(self.rss, q + c)
                    self.pss = max(self.pss, pss_kib(qpid) + c)
            time.sleep(0.02)

    def done(self):
        self.stop = True
        self.t.join()


def run_pod(coco, env, root, args):
    t0 = time.monotonic()
    p = subprocess.Popen([coco, "run", "--timings", "-q"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    mem = MemSampler(root, p.pid)
    first = None
    out = b""
    for line in p.stdout:
        if first is None:
            first = time.monotonic() - t0
        out += line
    err = p.stderr.read()
    p.wait()
    total = time.monotonic() - t0
    mem.done()
    if p.returncode != 0:
        sys.exit("coco run failed (%d): %s" % (p.returncode, err.decode(errors="replace")[-1500:]))
    phases = {}
    for m in re.finditer(rb"^  (.+?)\s+([\d.]+)$", err, re.M):
        phases[m.group(1).decode().strip()] = float(m.group(2)) / 1000.0
    return {"first": first, "total": total, "phases": phases, "rss": mem.rss, "pss": mem.pss,
            "out": out}


def make_floor_rootfs(path):
    t = build_rootfs.Tree()
    for d in ("proc", "sys", "dev"):
        t.dir(d)
    with open("/bin/busybox", "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    t.file("init", b"#!/bin/busybox sh\n/bin/busybox echo floor-ready\n/bin/busybox reboot -f\n",
           0o755)
    t.squashfs(path)


def make_crun_floor_rootfs(path, work):
    """The lower bound of any pod that runs its container with crun: a static /init
    (bench/crun_floor_init.c) that mounts what crun needs and runs one busybox container whose
    bundle is already on the root image, with crun from a sealed memfd as coco-agent runs it.
    No agent, attestation, pull or unpack."""
    init = os.path.join(work, "crun-floor-init")
    subprocess.run(["cc", "-static", "-O2", "-o", init, os.path.join(HERE, "crun_floor_init.c")],
                   check=True)
    t = build_rootfs.Tree()
    for d in ("proc", "sys", "dev", "run", "tmp", "usr/bin"):
        t.dir(d)
    for d in ("lib", "lib64"):
        if os.path.islink("/" + d):
            t.symlink(d, os.readlink("/" + d).lstrip("/"))
    with open(init, "rb") as f:
        t.file("init", f.read(), 0o755)
    crun = shutil.which("crun") or "/usr/bin/crun"
    t.copy_host_file(crun, strip=True)
    for lib in sorted(build_rootfs.shared_libs(crun)):
        t.copy_host_file(lib)
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        t.dir("bundle/rootfs/" + d)
    with open("/bin/busybox", "rb") as f:
        t.file("bundle/rootfs/bin/busybox", f.read(), 0o755)
    spec_dir = os.path.join(work, "crun-floor-spec")
    os.makedirs(spec_dir, exist_ok=True)
    subprocess.run(["runc", "spec"], cwd=spec_dir, check=True)
    with open(os.path.join(spec_dir, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/busybox", "echo", "first line from the container"]
    spec["root"]["readonly"] = True
    spec["linux"].pop("resources", None)
    t.file("bundle/config.json", json.dumps(spec).encode(), 0o644)
    t.squashfs(path)


def run_floor(qemu_args, console=None, expect=None):
    """Runs one VM to its end: (seconds, QEMU's peak RSS in KiB)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(qemu_args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        took = time.monotonic() - t0
        if p.returncode != 0:
            err.seek(0)
            sys.exit("bare QEMU boot failed: %s" % err.read().decode(errors="replace"))
    if expect is not None:
        with open(console, "rb") as f:
            log = f.read()
        if expect not in log:
            sys.exit("the boot + crun VM did not run its container:\n%s"
                     % log[-2000:].decode(errors="replace"))
        os.unlink(console)
    return took, usage.ru_maxrss


def floor_args(coco_args_dump, floor_rootfs, console):
    """The pod's own QEMU command line with the do-nothing root image swapped in."""
    a = [re.sub(r"^file=.*?,if=none,id=root,", "file=%s,if=none,id=root," % floor_rootfs, x)
         for x in coco_args_dump]
    # No agent sockets to serve: drop the virtio-serial ports, keep the devices the pod has.
    out, i = [], 0
    while i < len(a):
        if a[i] == "-chardev" and a[i + 1].startswith("socket,"):
            i += 2
            continue
        if a[i] == "-device" and a[i + 1].startswith("virtserialport"):
            i += 2
            continue
        if a[i] == "-chardev" and a[i + 1].startswith("file,id=console"):
            out += ["-chardev", "file,id=console,path=" + console]
            i += 2
            continue
        out.append(a[i])
        i += 1
    return out


def run_runc(bundle, i):
    t0 = time.monotonic()
    p = subprocess.run(["runc", "run", "--bundle", bundle, "coco-bench-%d-%d" % (os.getpid(), i)],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        sys.exit("runc run failed: %s" % p.stderr.decode(errors="replace"))
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    coco = os.path.join(build, "bin", "coco")
    os.environ.setdefault("COCO_KBS", os.path.join(build, "bin", "coco-kbs"))
    os.environ.setdefault("COCO_CLI", coco)
    guest = os.path.join(build, "guest")
    for f in ("vmlinux", "rootfs.img"):
        if not os.path.isfile(os.path.join(guest, f)):
            sys.exit("missing %s/%s: run scripts/setup.sh" % (guest, f))
    work = tempfile.mkdtemp(prefix="coco-pod-bench-")
    try:
        run_root = os.path.join(work, "run")
        os.makedirs(run_root, mode=0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=run_root, COCO_GUEST_DIR=guest)

        reg = Registry(name="bench").start()
        layout = os.path.join(work, "layout")
        write_oci_image(layout, "v1", [busybox_rootfs_entries("first line from the container\n")])
        push_layout(layout, "v1", reg, "bench/app:v1")
        broker = h.Broker(name="bench").init().start()
        broker.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
        enc = "docker://%s/bench/app:enc" % reg.host
        r = subprocess.run([coco, "image", "encrypt", "docker://%s/bench/app:v1" % reg.host, enc,
                            "--recipient", "provider:coco:kbs:///default/image-kek/bench",
                            "--kbs", broker.url, "--admin-token", broker.admin_token_path],
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            sys.exit("encrypt failed: %s" % r.stderr.decode())
        pod_args = ["--kbs", broker.url, enc]

        # The pod's QEMU command line, for the floor: ask coco's own launcher code via a dry pod.
        # (Read back from /proc while a pod runs.)
        captured = {}

        def capture():
            deadline = time.time() + 60
            while time.time() < deadline and "args" not in captured:
                pid = qemu_pid_under(run_root)
                if pid:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        captured["args"] = [x.decode() for x in f.read().split(b"\0") if x]
                time.sleep(0.01)
        cap = threading.Thread(target=capture)
        cap.start()
        cold = run_pod(coco, env, run_root, pod_args)
        cap.join()
        if cold["out"] != b"first line from the container\n":
            sys.exit("unexpected output: %r" % cold["out"])
        floor_root = os.path.join(work, "floor.img")
        make_floor_rootfs(floor_root)
        fargs = floor_args(captured["args"], floor_root, os.path.join(work, "floor-console.log"))
        crun_root = os.path.join(work, "crun-floor.img")
        make_crun_floor_rootfs(crun_root, work)
        crun_console = os.path.join(work, "crun-floor-console.log")
        cargs = floor_args(captured["args"], crun_root, crun_console)

        def run_crun_floor():
            return run_floor(cargs, crun_console, b"crun-floor: ok")

        bundle = os.path.join(work, "bundle")
        r = subprocess.run([coco, "image", "pull", "docker://%s/bench/app:v1" % reg.host,
                            "--store", os.path.join(work, "store"), "--unpack",
                            os.path.join(bundle, "rootfs")], capture_output=True, timeout=120)
        if r.returncode != 0:
            sys.exit("unpack for runc failed: %s" % r.stderr.decode())
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/bin/cat", "/etc/message"]
        spec["root"]["readonly"] = False
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)

        cold_floor = run_floor(fargs)
        cold_crun = run_crun_floor()
        cold_runc = run_runc(bundle, 0)
        pods, floors, cruns, runcs = [], [], [], []
        for i in range(1, args.runs):
            pods.append(run_pod(coco, env, run_root, pod_args))
            floors.append(run_floor(fargs))
            cruns.append(run_crun_floor())
            runcs.append(run_runc(bundle, i))

        med = statistics.median
        warm = {"first": med([p["first"] for p in pods]), "total": med([p["total"] for p in pods]),
                "rss": med([p["rss"] for p in pods]), "pss": med([p["pss"] for p in pods])}
        phase_names = ["vm boot + agent ready", "attestation", "pull", "unpack", "bundle",
                       "run to exit", "shutdown"]
        warm_phases = {n: med([p["phases"].get(n, 0.0) for p in pods]) for n in phase_names}
        floor_w, crun_w, runc_w = med([f[0] for f in floors]), med([c[0] for c in cruns]), med(runcs)
        floor_rss, crun_rss = med([f[1] for f in floors]), med([c[1] for c in cruns])
        accel = "kvm" if "kvm" in captured["args"] else "tcg"
        print("coco run (attestation + encrypted image, %s, 256 MiB guest) vs a bare boot of the "
              "same VM vs runc on the host; %d runs, load %.2f" % (accel, args.runs,
                                                                 os.getloadavg()[0]))
        print("\n%-40s %10s %10s" % ("phase (s)", "cold", "warm"))
        for n in phase_names:
            print("%-40s %10.3f %10.3f" % ("  " + n, cold["phases"].get(n, 0.0), warm_phases[n]))
        print("%-40s %10.3f %10.3f" % ("coco run to first output line", cold["first"],
                                        warm["first"]))
        print("%-40s %10.3f %10.3f" % ("coco run total (to exit, VM gone)", cold["total"],
                                        warm["total"]))
        print("%-40s %10.3f %10.3f" % ("bare VM boot (init powers off at once)", cold_floor[0],
                                        floor_w))
        print("%-40s %10.3f %10.3f" % ("bare VM boot + one crun container", cold_crun[0], crun_w))
        print("%-40s %10.3f %10.3f" % ("runc run on the host", cold_runc, runc_w))
        print("\nratios (warm):")
        r1 = warm["first"] / floor_w
        r2 = warm["total"] / floor_w
        print("  coco run to first output / bare boot: %.2fx (target <= 1.3x)%s"
              % (r1, "" if r1 <= 1.3 else "  above target"))
        print("  coco run total / bare boot:           %.2fx" % r2)
        print("  bare boot + one crun container / bare boot: %.2fx (a lower bound for any pod "
              "that starts its container with crun: no agent, attestation or pull)"
              % (crun_w / floor_w))
        print("  coco run to first output / runc:      %.1fx" % (warm["first"] / runc_w))
        print("  bare boot: %.3f s (target <= 1.0 s)%s" % (floor_w, "" if floor_w <= 1.0
                                                          else "  above target"))
        mib = warm["rss"] / 1024.0
        print("  host memory per pod, QEMU + coco run RSS (peak while running): %.1f MiB "
              "(target <= 150 MiB)%s" % (mib, "" if mib <= 150 else "  above target"))
        print("  QEMU peak RSS of the bare boot: %.1f MiB; of the boot + one crun container: "
              "%.1f MiB" % (floor_rss / 1024.0, crun_rss / 1024.0))
        print("  the same with QEMU's PSS (QEMU's and the kernel's file pages shared between pods): "
              "%.1f MiB" % (warm["pss"] / 1024.0))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        for stop in reversed(h._CLEANUPS):  # the broker and the registry
            stop(False)
