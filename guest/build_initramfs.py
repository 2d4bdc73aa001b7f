#!/usr/bin/env python3
"""Builds the pod VM's initramfs: coco-agent as /init, crun, busybox, gpg (for simple-signing
checks) and the shared libraries they need, as an uncompressed newc cpio archive (the kernel
copies it without decompressing, which is what costs time under emulation).

The same inputs give the same bytes: entries sorted, owner root, mtime 0, inode numbers in order.

  guest/build_initramfs.py --agent build/bin/coco-agent --out build/guest/initramfs.cpio
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

    def cpio(self):
        out = bytearray()
        ino = 1
        for path in sorted(self.entries):
            kind, mode, data = self.entries[path]
            ftype = {"dir": 0o040000, "file": 0o100000, "link": 0o120000}[kind]
            out += header(ino, ftype | mode, 2 if kind == "dir" else 1, len(data), path)
            out += data
            out += b"\0" * (-len(out) % 4)
            ino += 1
        out += header(0, 0, 1, 0, "TRAILER!!!")
        out += b"\0" * (-len(out) % 512)
        return bytes(out)


def header(ino, mode, nlink, size, name):
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name_b), 0]
    h = b"070701" + b"".join(b"%08X" % v for v in fields) + name_b
    return h + b"\0" * (-len(h) % 4)


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
    ap.add_argument("--out", required=True, help="the initramfs to write (newc cpio)")
    ap.add_argument("--crun", default=shutil.which("crun") or "/usr/bin/crun")
    ap.add_argument("--busybox", default="/bin/busybox")
    args = ap.parse_args()
    for p in (args.agent, args.crun, args.busybox):
        if not os.path.isfile(p):
            fail("%s is missing (scripts/setup.sh installs crun and busybox-static)" % p)

    t = Tree()
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
    data = t.cpio()
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    print("    initramfs %s: %d entries, %.1f MiB, sha384 %s" % (
        args.out, len(t.entries), len(data) / 2**20, hashlib.sha384(data).hexdigest()))


if __name__ == "__main__":
    main()
