#!/usr/bin/env python3
"""Builds the pod VM's root filesystem image: coco-agent as /init, crun, busybox, gpg (for
simple-signing checks) and the shared libraries they need, as a read-only, uncompressed squashfs
image that the VM attaches as a virtio-blk disk. The guest reads pages as it uses them, so a pod
touches only what it runs; an initramfs would be copied whole into guest memory at boot.

The same inputs give the same bytes: owner root, every timestamp 0, sorted entries.

  guest/build_rootfs.py --agent build/bin/coco-agent --out build/guest/rootfs.img
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "mount", "umount", "ps", "mkdir", "rm", "cp", "mv",
                   "ln", "sleep", "true", "false", "env", "id", "uname", "dmesg", "poweroff",
                   "reboot"]
OPTIONAL_PROGRAMS = ["/usr/bin/gpg", "/usr/bin/gpgconf"]
# Libraries the agent loads by name at run time (not in ldd's list): the TSS's TPM device TCTI.
DLOPENED_LIBS = ["/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def fail(msg):
    print("error: " + msg, file=sys.stderr)
    sys.exit(1)


def shared_libs(path):
    """The resolved paths of every shared library `path` loads (ldd), loader included."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        fail("ldd %s: %s" % (path, out.stderr.strip()))
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" ")[0]
            if target == "not":
                fail("%s needs a library that is not installed: %s" % (path, line))
            if target.startswith("/"):
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split(" ")[0])
    return libs


class Tree:
    """Entries of the archive: path -> (mode, data or link target)."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.entries:
                self.entries[p] = ("dir", mode, b"")

    def file(self, path, data, mode=0o755):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        self.entries[path] = ("file", mode, data)

    def symlink(self, path, target):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        self.entries[path] = ("link", 0o777, target.encode())

    def copy_host_file(self, host_path, strip=False):
        """Copies a host file to the same canonical place; the symlinks that lead to it from
        its canonical directory are kept as symlinks (libfoo.so.1 -> libfoo.so.1.2.3)."""
        p = os.path.join(os.path.realpath(os.path.dirname(host_path)), os.path.basename(host_path))
        for _ in range(16):
            if not os.path.islink(p):
                break
            target = os.readlink(p)
            nxt = target if target.startswith("/") else os.path.join(os.path.dirname(p), target)
            nxt = os.path.join(os.path.realpath(os.path.dirname(nxt)), os.path.basename(nxt))
            self.symlink(p, target if not target.startswith("/") else
                         os.path.relpath(nxt, os.path.dirname(p)))
            p = nxt
        with open(p, "rb") as f:
            data = f.read()
        if strip:
            data = stripped(p, data)
        self.file(p, data, os.stat(p).st_mode & 0o7777)

    def squashfs(self, out):
        """Writes the tree as an uncompressed squashfs image to `out` (atomically). Files are
        stored uncompressed: under emulation inflating costs more than reading."""
        with tempfile.TemporaryDirectory(prefix="coco-rootfs-") as tmp:
            root = os.path.join(tmp, "root")
            os.mkdir(root)
            for path in sorted(self.entries):
                kind, mode, data = self.entries[path]
                full = os.path.join(root, path)
                if kind == "dir":
                    os.makedirs(full, exist_ok=True)
                elif kind == "file":
                    with open(full, "wb") as f:
                        f.write(data)
                else:
                    os.symlink(data.decode(), full)
            for path in sorted(self.entries):  # modes after the contents (read-only dirs)
                kind, mode, _ = self.entries[path]
                if kind != "link":
                    os.chmod(os.path.join(root, path), mode)
            os.chmod(root, 0o755)
            tmp_out = out + ".tmp"
            if os.path.exists(tmp_out):
                os.unlink(tmp_out)
            # Same inputs, same bytes: owner root, every time 0, sorted entries, one writer
            # thread; uncompressed inodes, data, fragments and ids.
            subprocess.run(["mksquashfs", root, tmp_out, "-noappend", "-no-xattrs", "-all-root",
                            "-mkfs-time", "0", "-all-time", "0", "-noI", "-noId", "-noD", "-noF",
                            "-noX", "-processors", "1", "-quiet", "-no-progress"], check=True,
                           stdout=subprocess.DEVNULL)
            os.replace(tmp_out, out)


def stripped(path, data):
    with tempfile.NamedTemporaryFile() as t:
        t.write(data)
        t.flush()
        subprocess.run(["strip", "--strip-unneeded", "-o", t.name + ".s", t.name], check=True)
        with open(t.name + ".s", "rb") as f:
            s = f.read()
        os.unlink(t.name + ".s")
        return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", required=True, help="the coco-agent binary")
    ap.add_argument("--out", required=True, help="the image to write (squashfs)")
    ap.add_argument("--crun", default=shutil.which("crun") or "/usr/bin/crun")
    ap.add_argument("--busybox", default="/bin/busybox")
    args = ap.parse_args()
    for p in (args.agent, args.crun, args.busybox):
        if not os.path.isfile(p):
            fail("%s is missing (scripts/setup.sh installs crun and busybox-static)" % p)

    t = Tree()
    # Mount points: the root is read-only, so each must exist in the image.
    for d in ("proc", "sys", "dev", "run", "tmp", "etc", "root", "var/tmp", "usr/bin"):
        t.dir(d)
    # A merged-/usr host (Debian 12) has /lib and /lib64 as symlinks into /usr: keep that shape,
    # so the loader finds libraries under the paths it was built to search.
    for d in ("lib", "lib64"):
        if os.path.islink("/" + d):
            t.symlink(d, os.readlink("/" + d).lstrip("/"))
    programs = [args.crun] + [p for p in OPTIONAL_PROGRAMS if os.path.isfile(p)]
    with open(args.agent, "rb") as f:
        t.file("init", stripped(args.agent, f.read()), 0o755)
    libs = set(shared_libs(args.agent))
    for lib in DLOPENED_LIBS:
        if not os.path.exists(lib):
            fail("%s is missing: install libtss2-dev" % lib)
        libs.add(lib)
        libs.update(shared_libs(lib))
    for p in programs:
        t.copy_host_file(p, strip=True)
        libs.update(shared_libs(p))
    for lib in sorted(libs):
        t.copy_host_file(lib)
    if shared_libs(args.busybox):
        fail("%s is not static: install busybox-static" % args.busybox)
    with open(args.busybox, "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for applet in BUSYBOX_APPLETS:
        t.symlink("bin/" + applet, "busybox")
    if os.path.isfile(CA_BUNDLE):
        with open(CA_BUNDLE, "rb") as f:
            t.file(CA_BUNDLE, f.read(), 0o644)
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    t.file("etc/group", b"root:x:0:\n", 0o644)
    t.file("etc/hosts", b"127.0.0.1 localhost\n", 0o644)
    t.squashfs(args.out)
    with open(args.out, "rb") as f:
        data = f.read()
    print("    rootfs %s: %d entries, %.1f MiB squashfs, sha384 %s" % (
        args.out, len(t.entries), len(data) / 2**20, hashlib.sha384(data).hexdigest()))


if __name__ == "__main__":
    main()
