#!/usr/bin/env python3
"""the shape docs/architecture.md promises, checked on the built objects (nm), not by reading:
 1. config/ calls nothing above itself: every symbol a config/ object uses is
    defined in config/ or core/ (or outside the project).
 2. No circle of files calling each other inside app/, detect/ or infer/:
    the file-level call graph of each of those folders has no cycle.
usage: layers.py BUILD_DIR"""
import collections
import glob
import os
import subprocess
import sys

CYCLE_FREE = ("app", "detect", "infer")
LOWER_THAN_CONFIG = {"config", "core"}


def objects(build):
    out = {}
    for lib in ("kvs_core", "kvs_pipeline", "kvs_app"):
        for o in glob.glob(f"{build}/CMakeFiles/{lib}.dir/src/**/*.c.o", recursive=True):
            rel = o.split(f"{lib}.dir/src/", 1)[1][: -len(".c.o")]  # folder/file
            out[rel + ".c"] = o
    return out


def symbols(obj):
    text = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            used.add(name)
        elif kind in "TDBRGS" or kind in "VW":  # global definitions only (upper case)
            defined.add(name)
    return defined, used


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1]
    objs = objects(build)
    if len(objs) < 20:
        print(f"layers: only {len(objs)} objects under {build}: build the project first")
        return 1
    owner, uses = {}, {}
    for f, o in objs.items():
        d, u = symbols(o)
        uses[f] = u
        for s in d:
            owner[s] = f
    bad = []
    for f, u in sorted(uses.items()):
        if f.split("/")[0] != "config":
            continue
        for s in sorted(u):
            g = owner.get(s)
            if g and g.split("/")[0] not in LOWER_THAN_CONFIG:
                bad.append(f"{f} calls {s} ({g})")
    for folder in CYCLE_FREE:
        graph = collections.defaultdict(set)
        for f, u in uses.items():
            if f.split("/")[0] != folder:
                continue
            for s in u:
                g = owner.get(s)
                if g and g != f and g.split("/")[0] == folder:
                    graph[f].add(g)
        for comp in cycles(graph):
            edges = [f"{a} -> {b} ({', '.join(sorted(s for s in uses[a] if owner.get(s) == b))})"
                     for a in comp for b in comp if b in graph[a]]
            bad.append(f"{folder}/: files calling each other: " + "; ".join(edges))
    for b in bad:
        print("layers:", b)
    print(f"layers: {len(objs)} objects checked: {'FAIL' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
