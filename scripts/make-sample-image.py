#!/usr/bin/env python3
"""Writes a small OCI image layout (busybox-static + a tiny app) for the quickstart, using only
the Python standard library: one gzip layer, an image config, a manifest, index.json.

  scripts/make-sample-image.py DIR TAG "message the app prints"
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

BUSYBOX = "/bin/busybox"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    layout, tag, message = sys.argv[1:]
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return "sha256:" + d

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind, data=b"", mode=0o755, link=""):
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime = mode, 0
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
        with open(BUSYBOX, "rb") as f:
            bb = f.read()
        add("bin", "dir")
        add("bin/busybox", "file", bb)
        for applet in ("sh", "cat", "echo", "uname", "date"):
            add("bin/" + applet, "link", link="busybox")
        add("app", "dir")
        add("app/message", "file", (message + "\n").encode(), 0o644)
        add("app/run.sh", "file", b"#!/bin/sh\ncat /app/message\necho \"running on $(uname -sr), "
            b"pid $$, in a pod VM\"\n")
    tar_bytes = buf.getvalue()
    gz = gzip.compress(tar_bytes, mtime=0)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz),
             "size": len(gz)}
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh", "/app/run.sh"], "WorkingDir": "/app"},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                   "size": len(config)},
        "layers": [layer]}, sort_keys=True).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


if __name__ == "__main__":
    main()
