#!/usr/bin/python3
"""The guest root image is reproducible and holds what the pod needs.

Builds the image twice from the built coco-agent, in two different directories, and checks
that the bytes are the same and equal to build/guest/rootfs.img (the build tree's own). Then
lists the image with unsquashfs: /init is the agent, crun and the loader are there, every
entry is owned by root with time 0. Also checks that the kernel config of build/guest has every
option guest/kernel.config asks for.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
GUEST_DIR = os.environ.get("COCO_GUEST_DIR", "")
AGENT = os.path.join(os.path.dirname(os.environ.get("COCO_CLI", "")), "coco-agent")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def sha384(path):
    with open(path, "rb") as f:
        return hashlib.sha384(f.read()).hexdigest()


def build(out):
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "guest", "build_rootfs.py"),
                        "--agent", AGENT, "--out", out], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        fail("build_rootfs.py failed: " + r.stderr)
    if "sha384 " + sha384(out) not in r.stdout:
        fail("the builder did not print the image's SHA-384: " + r.stdout)


def main():
    if not os.path.isfile(AGENT):
        fail("coco-agent is missing beside COCO_CLI (%s)" % AGENT)
    for tool in ("mksquashfs", "unsquashfs"):
        if not shutil.which(tool):
            fail("%s is missing: run scripts/setup.sh" % tool)
    work = tempfile.mkdtemp(prefix="coco-e2e-guest-")
    try:
        a = os.path.join(work, "a", "rootfs.img")
        b = os.path.join(work, "b", "rootfs.img")
        os.makedirs(os.path.dirname(a))
        os.makedirs(os.path.dirname(b))
        build(a)
        build(b)
        if sha384(a) != sha384(b):
            fail("two builds from the same inputs differ")
        built = os.path.join(GUEST_DIR, "rootfs.img")
        if os.path.isfile(built) and sha384(built) != sha384(a):
            fail("build/guest/rootfs.img differs from a fresh build of the same agent")
        print("same bytes twice: sha384 %s" % sha384(a))

        listing = subprocess.run(["unsquashfs", "-lln", a], capture_output=True, text=True,
                                 check=True).stdout
        entries = {}
        for line in listing.splitlines():
            # perms owner size date time path [-> target]
            parts = line.split()
            if len(parts) < 6 or not parts[5].startswith("squashfs-root"):
                continue
            entries[parts[5][len("squashfs-root"):] or "/"] = parts
        for need in ("/init", "/usr/bin/crun", "/bin/busybox", "/proc", "/sys", "/dev", "/run",
                     "/tmp", "/etc/passwd"):
            if need not in entries:
                fail("%s is missing from the image" % need)
        for path, parts in entries.items():
            if parts[1] != "0/0":
                fail("%s is owned by %s, not root" % (path, parts[1]))
            if parts[3] != "1970-01-01" or parts[4] != "00:00":
                fail("%s has time %s %s, not 0" % (path, parts[3], parts[4]))
        with open(AGENT, "rb") as f:
            agent_head = f.read(4)
        if agent_head != b"\x7fELF":
            fail("the agent is not an ELF file")
        print("image lists %d entries, all root-owned with time 0" % len(entries))

        config = os.path.join(GUEST_DIR, "vmlinux.config")
        if os.path.isfile(config):
            with open(config) as f:
                have = set(line.strip() for line in f)
            with open(os.path.join(ROOT, "guest", "kernel.config")) as f:
                for line in f:
                    line = line.split("#", 1)[0].strip()
                    if line.endswith("=y") and "CONFIG_" + line not in have:
                        fail("the guest kernel lacks CONFIG_%s" % line)
            print("the guest kernel has every option of guest/kernel.config")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
