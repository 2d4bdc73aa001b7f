#!/usr/bin/python3
"""coco image pull against a real docker-registry, images pushed by skopeo.

Checks: every blob lands in the store under its digest; a second pull reuses the store; oci:
layouts pull the same; an interrupted pull (connection cut mid-layer, every time) fails with a
clear error after bounded retries and leaves no blob and no temporary file; once the registry
serves again the rerun completes; prune keeps what images use and removes the rest.
"""

import http.server
import os
import socketserver
import threading

from kbs_harness import check, describe_run, info, make_tmpdir, run_cli, run_main
from proxy_harness import ForwardProxy
from image_harness import (Registry, busybox_rootfs_entries, push_layout, require_tools,
                           sha256_hex, tree_listing, write_oci_image)


def store_blobs(store):
    d = os.path.join(store, "blobs", "sha256")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def store_temps(store):
    d = os.path.join(store, "tmp")
    return os.listdir(d) if os.path.isdir(d) else []


class CuttingRegistry:
    """Serves one OCI layout as a registry; while `cut` is set, blob bodies stop half-way."""

    def __init__(self, layout, repo):
        self.layout, self.repo, self.cut = layout, repo, True
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                prefix = "/v2/%s/" % outer.repo
                if self.path == "/v2/":
                    return self._send(200, b"{}", "application/json")
                if not self.path.startswith(prefix):
                    return self._send(404, b"{}", "application/json")
                kind, ref = self.path[len(prefix):].split("/", 1)
                if kind == "manifests" and not ref.startswith("sha256:"):
                    import json
                    with open(os.path.join(outer.layout, "index.json")) as f:
                        ref = json.load(f)["manifests"][0]["digest"]
                path = os.path.join(outer.layout, "blobs", "sha256", ref.split(":", 1)[1])
                if not os.path.exists(path):
                    return self._send(404, b"{}", "application/json")
                with open(path, "rb") as f:
                    data = f.read()
                if kind == "manifests":
                    return self._send(200, data, "application/vnd.oci.image.manifest.v1+json")
                if outer.cut and len(data) > 4096:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(200, data, "application/octet-stream")

            def _send(self, code, body, ctype):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    require_tools()
    work = make_tmpdir("coco-e2e-pull-")
    layout = os.path.join(work, "layout")
    data = os.urandom(3 << 20)  # incompressible: a ~3 MiB gzip layer
    img = write_oci_image(layout, "v1", [busybox_rootfs_entries()], extra_data_layer=data)
    reg = Registry().start()
    push_layout(layout, "v1", reg, "test/plain:v1")
    info("pushed test/plain:v1 (%s) to %s" % (img["manifest"], reg.host))

    store = os.path.join(work, "store")
    src = "docker://%s/test/plain:v1" % reg.host
    r = run_cli(["image", "pull", src, "--store", store])
    check(r.returncode == 0, "coco image pull from docker-registry succeeds", describe_run(r))
    digest = r.stdout.decode().strip()
    check(digest == img["manifest"], "the printed manifest digest is skopeo's", digest)
    blobs = store_blobs(store)
    for layer in img["layers"]:
        h = layer.split(":", 1)[1]
        check(h in blobs, "layer %s is in the store" % layer[:19])
        with open(os.path.join(store, "blobs", "sha256", h), "rb") as f:
            check(sha256_hex(f.read()) == h, "stored layer %s hashes to its name" % layer[:19])
    check(store_temps(store) == [], "no temporary files left after a pull")

    r = run_cli(["image", "pull", src, "--store", store])
    check(r.returncode == 0 and b"cached" in r.stderr,
          "a second pull reuses the stored layers", describe_run(r))

    root = os.path.join(work, "rootfs")
    r = run_cli(["image", "pull", src, "--store", store, "--unpack", root])
    check(r.returncode == 0, "coco image pull --unpack builds the root filesystem", describe_run(r))
    tree = tree_listing(root)
    check(tree.get("bin/sh") == ("symlink", "busybox") and
          tree.get("etc/message-link") == tree.get("etc/message") and
          tree.get("data/blob") == ("file", sha256_hex(data)),
          "the unpacked tree holds the image's files, links and data", sorted(tree)[:20])
    check(os.stat(os.path.join(root, "etc/message")).st_ino ==
          os.stat(os.path.join(root, "etc/message-link")).st_ino,
          "hard links stay hard links")
    r = run_cli(["image", "unpack", "oci:%s:v1" % layout, root, "--store", store])
    check(r.returncode != 0 and root.encode() in r.stderr,
          "unpack refuses to overwrite an existing root", describe_run(r))
    check(tree_listing(root) == tree, "the existing root is untouched")

    # Through a forward proxy from the environment (absolute-form requests for an http
    # registry): the same layers, every request line naming the registry.
    proxy = ForwardProxy()
    try:
        store_p = os.path.join(work, "store-proxied")
        env = {"http_proxy": proxy.url, "https_proxy": "", "HTTPS_PROXY": "", "all_proxy": "",
               "ALL_PROXY": "", "no_proxy": "", "NO_PROXY": ""}
        r = run_cli(["image", "pull", src, "--store", store_p], env=env)
        check(r.returncode == 0 and r.stdout.decode().strip() == img["manifest"],
              "coco image pull through an http_proxy gets the same manifest", describe_run(r))
        targets = [t for _, t, _ in proxy.requests()]
        check(any("/blobs/" + l in t for t in targets for l in img["layers"]) and
              all(t.startswith("http://%s/v2/" % reg.host) for t in targets),
              "the proxy carried the blob requests, all for the registry (%d requests)"
              % len(targets), targets[:4])
        check(sorted(store_blobs(store_p)) == sorted(store_blobs(store)),
              "the proxied store holds the same blobs")
    finally:
        proxy.stop()

    r = run_cli(["image", "inspect", src])
    check(r.returncode == 0 and img["layers"][0].encode() in r.stdout,
          "coco image inspect lists the layers", describe_run(r))

    store2 = os.path.join(work, "store2")
    r = run_cli(["image", "pull", "oci:%s:v1" % layout, "--store", store2])
    check(r.returncode == 0 and r.stdout.decode().strip() == img["manifest"],
          "oci: layouts pull to the same manifest", describe_run(r))

    r = run_cli(["image", "pull", "docker://%s/test/absent:v1" % reg.host, "--store", store])
    check(r.returncode != 0 and b"absent" in r.stderr and b"MANIFEST_UNKNOWN" in r.stderr,
          "a missing image fails naming the repository and the registry's error", describe_run(r))

    # Interrupted pull: every blob transfer is cut half-way.
    cutter = CuttingRegistry(layout, "test/cut")
    store3 = os.path.join(work, "store3")
    src3 = "docker://127.0.0.1:%d/test/cut:v1" % cutter.port
    r = run_cli(["image", "pull", src3, "--store", store3, "--retries", "2"])
    check(r.returncode != 0 and b"gave up after 2 attempts" in r.stderr,
          "an interrupted pull fails with a clear error after bounded retries", describe_run(r))
    big = img["layers"][-1].split(":", 1)[1]
    check(big not in store_blobs(store3), "no partial layer blob in the store")
    check(store_temps(store3) == [], "no temporary file left by the interrupted pull")
    cutter.cut = False
    r = run_cli(["image", "pull", src3, "--store", store3])
    check(r.returncode == 0 and big in store_blobs(store3),
          "the rerun completes once the registry serves whole blobs", describe_run(r))
    cutter.close()

    # Prune: an orphan blob goes, the image's blobs stay.
    orphan = os.path.join(store, "blobs", "sha256", "0" * 64)
    with open(orphan, "wb") as f:
        f.write(b"orphan")
    r = run_cli(["image", "prune", "--store", store])
    check(r.returncode == 0 and not os.path.exists(orphan) and
          all(l.split(":", 1)[1] in store_blobs(store) for l in img["layers"]),
          "prune removes an unreferenced blob and keeps the image's", describe_run(r))


if __name__ == "__main__":
    run_main(main)
