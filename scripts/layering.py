#!/usr/bin/env python3
"""The layering of coco's libraries, from the build's own dependency graph (cmake --graphviz).

  scripts/layering.py                     print the layering (configures a scratch build dir)
  scripts/layering.py --check FILE        exit 1 unless FILE holds the same text between
                                          <!-- layering:begin --> and <!-- layering:end -->
  scripts/layering.py --write FILE        replace that part of FILE

Only coco's own libraries (coco_*) and programs (coco, coco-*) are shown, each with the coco libraries it links directly,
edges implied by others removed (A -> C is left out when A -> B -> C), lowest layer first.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- layering:begin -->", "<!-- layering:end -->"


def graph(source):
    with tempfile.TemporaryDirectory(prefix="coco-layering-") as tmp:
        dot = os.path.join(tmp, "deps.dot")
        r = subprocess.run(["cmake", "-S", source, "-B", os.path.join(tmp, "b"), "-G", "Ninja",
                            "-DCOCO_BUILD_BENCH=OFF", "--graphviz=" + dot],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("cmake failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])
        text = open(dot).read()
    names = dict(re.findall(r'"(node\d+)" \[ label = "([^"]+)"', text))
    ours = lambda n: n == "coco" or n.startswith(("coco_", "coco-"))
    edges = {}
    for a, b in re.findall(r'"(node\d+)" -> "(node\d+)"', text):
        na, nb = names.get(a, ""), names.get(b, "")
        if ours(na) and ours(nb) and na != nb:
            edges.setdefault(na, set()).add(nb)
    libs = sorted({n for n in names.values() if ours(n)})
    return libs, edges


def reach(edges, start):
    seen, todo = set(), list(edges.get(start, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(edges.get(n, ()))
    return seen


def render(libs, edges):
    direct = {}
    for lib in libs:
        deps = edges.get(lib, set())
        implied = set()
        for d in deps:
            implied |= reach(edges, d)
        direct[lib] = sorted(deps - implied)
    depth = {}

    def level(n):
        if n not in depth:
            depth[n] = 1 + max((level(d) for d in edges.get(n, ())), default=-1)
        return depth[n]

    lines = ["```text", "layer  library or program       links (directly; the rest comes through them)"]
    for lib in sorted(libs, key=lambda n: (level(n), n)):
        lines.append("%-6d %-24s %s" % (level(lib), lib, ", ".join(direct[lib]) or "-"))
    lines.append("```")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", metavar="FILE")
    g.add_argument("--write", metavar="FILE")
    a = ap.parse_args()
    text = render(*graph(ROOT))
    if not (a.check or a.write):
        print(text)
        return 0
    path = a.check or a.write
    doc = open(path).read()
    if BEGIN not in doc or END not in doc:
        sys.exit("%s has no %s ... %s block" % (path, BEGIN, END))
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + text + "\n" + END + tail
    if a.write:
        open(path, "w").write(new)
        return 0
    if new != doc:
        print("%s: the layering drawn there is not the build's; run scripts/layering.py --write %s"
              % (path, path))
        print(text)
        return 1
    print("PASS: %s draws the build's layering" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
