#!/usr/bin/python3
"""Helpers for the image end-to-end tests: a real `docker-registry` on 127.0.0.1, small test
images built here from busybox-static (no download), skopeo as the peer tool.

Images are written as OCI layouts with the standard library only (tarfile, gzip, json), so the
bytes and digests are computed independently of the C++ code under test.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request

from kbs_harness import at_exit, check, fail, free_port, info, make_tmpdir

BUSYBOX = "/bin/busybox"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _tar_bytes(entries):
    """entries: list of (name, kind, data_or_target, mode). Deterministic tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = mode
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif kind == "file":
                ti.size = len(payload)
                tar.addfile(ti, io.BytesIO(payload))
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
                tar.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
                tar.addfile(ti)
    return buf.getvalue()


def busybox_rootfs_entries(message="hello from a coco test image\n"):
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    return [
        ("bin", "dir", None, 0o755),
        ("bin/busybox", "file", bb, 0o755),
        ("bin/sh", "symlink", "busybox", 0o777),
        ("bin/cat", "symlink", "busybox", 0o777),
        ("etc", "dir", None, 0o755),
        ("etc/message", "file", message.encode(), 0o644),
        ("etc/message-link", "hardlink", "etc/message", 0o644),
    ]


def write_oci_image(layout_dir, tag, layers_entries, extra_data_layer=None):
    """Builds an OCI layout with one gzip layer per entry list; returns a dict of digests.

    extra_data_layer: optional bytes put as one more gzip layer holding /data/blob.
    """
    blobs = os.path.join(layout_dir, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = sha256_hex(data)
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return d

    layers, diff_ids, layer_tars = [], [], []
    all_entries = list(layers_entries)
    if extra_data_layer is not None:
        all_entries.append([("data", "dir", None, 0o755),
                            ("data/blob", "file", extra_data_layer, 0o644)])
    for entries in all_entries:
        tar = _tar_bytes(entries)
        gz = gzip.compress(tar, compresslevel=6, mtime=0)
        layer_tars.append(tar)
        diff_ids.append("sha256:" + sha256_hex(tar))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": "sha256:" + put(gz), "size": len(gz)})
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/cat", "/etc/message"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + put(cfg), "size": len(cfg)},
        "layers": layers,
    }
    mbytes = json.dumps(manifest, sort_keys=True).encode()
    mdigest = put(mbytes)
    index_path = os.path.join(layout_dir, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get(
                                  "org.opencontainers.image.ref.name") != tag]
    index["manifests"].append({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + mdigest, "size": len(mbytes),
        "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(index_path, "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout_dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return {"manifest": "sha256:" + mdigest, "layers": [l["digest"] for l in layers],
            "diff_ids": diff_ids, "layer_tars": layer_tars}


class Registry:
    """A docker-registry (distribution) process serving plain HTTP on 127.0.0.1."""

    def __init__(self, name="registry"):
        self.dir = make_tmpdir("coco-e2e-%s-" % name)
        self.port = None
        self.proc = None
        at_exit(lambda failed: self.stop())

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        if self.port is None:
            self.port = free_port()
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s\n  delete:\n    enabled: true\n"
                    "http:\n  addr: 127.0.0.1:%d\n" % (os.path.join(self.dir, "data"), self.port))
        log = open(os.path.join(self.dir, "registry.log"), "ab")
        self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("docker-registry exited early; log: %s" % self.log())
            try:
                with urllib.request.urlopen("http://%s/v2/" % self.host, timeout=2) as r:
                    if r.status == 200:
                        return self
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        fail("docker-registry did not answer on %s" % self.host)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "registry.log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


def skopeo(args, timeout=300):
    cmd = ["/usr/bin/skopeo", "--insecure-policy"] + list(args)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        fail("`%s` exited %d: %s" % (" ".join(cmd), r.returncode,
                                     r.stderr.decode(errors="replace")[-1500:]))
    return r


def push_layout(layout_dir, tag, registry, repo_tag):
    """skopeo copy oci:DIR:TAG docker://HOST/REPO:TAG (plain HTTP)."""
    skopeo(["copy", "--dest-tls-verify=false", "oci:%s:%s" % (layout_dir, tag),
            "docker://%s/%s" % (registry.host, repo_tag)])


def tree_listing(root):
    """{relative path: (kind, content-or-target)} of a directory tree, for equality checks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("symlink", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", None)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", sha256_hex(f.read()))
    return out


def require_tools():
    for t in ("/usr/bin/skopeo", "/usr/bin/docker-registry", BUSYBOX):
        if not os.path.exists(t):
            fail("missing %s (scripts/setup.sh installs it)" % t)
    info("peers: %s" % subprocess.run(["/usr/bin/skopeo", "--version"], capture_output=True)
         .stdout.decode().strip())
