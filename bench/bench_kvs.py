#!/usr/bin/env python3
"""KVS source benchmark and soak, on the emulator with real footage.

  bench_kvs.py KVS_INFER [--cameras N] [--seconds S] [--modes hls,getmedia]
               [--soak] [--model PATH]

For each mode, N cameras read N emulated streams for S seconds (after a
warm-up) with a YOLOX-nano detector at fps_limit 2 and print: the delay from a
frame's producer timestamp to a detector starting on it (p50, p95, read off
kvs_infer_frame_delay_seconds), frames decoded per second, process CPU per
camera, and resident memory at the start and end of the window. --soak runs
one process with the cameras alternating HLS fMP4, HLS TS and GetMedia, arms a
session expiry and a connection cut every 30 s, and reports memory every 30 s.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Offline mirrors of models and footage, as in scripts/test.sh (KVS_MODELS_MIRROR default).
MODELS_MIRROR = os.environ.get("KVS_MODELS_MIRROR") or os.path.join(ROOT, "../shared/models")  # KVS_MODELS_MIRROR
MEDIA_MIRROR = os.environ.get("KVS_MEDIA_MIRROR") or os.path.join(ROOT, "../shared/media")  # KVS_MEDIA_MIRROR


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def wait(pred, limit):
    end = time.time() + limit
    while time.time() < end:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(0.3)
    return False


def find(paths, what):
    for p in paths:
        if os.path.isfile(p):
            return p
    sys.exit(f"bench-kvs: {what} is missing (run scripts/fetch-models.sh / fetch-media.sh)")


def metrics(port):
    out = {}
    for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith("#") or " " not in line:
            continue
        k, v = line.rsplit(" ", 1)
        out[k] = float(v)
    return out


def delay_buckets(m, cams=None):
    """Cumulative counts per bucket bound, summed over the cameras (default: all)."""
    b = {}
    for k, v in m.items():
        if k.startswith("kvs_infer_frame_delay_seconds_bucket{") and (
                cams is None or k.split('camera="')[1].split('"')[0] in cams):
            le = k.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            b[bound] = b.get(bound, 0) + v
    return sorted(b.items())


def quantile(buckets, q):
    total = buckets[-1][1] if buckets else 0
    if not total:
        return float("nan")
    want, prev_b, prev_c = q * total, 0.0, 0.0
    for bound, c in buckets:
        if c >= want:
            if bound == float("inf"):
                return prev_b
            return prev_b + (bound - prev_b) * (want - prev_c) / max(c - prev_c, 1e-9)
        prev_b, prev_c = bound, c
    return prev_b


def diff(a, b):
    da = dict(a)
    return [(k, v - da.get(k, 0)) for k, v in b]


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = int(parts[11]) + int(parts[12])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return ticks / os.sysconf("SC_CLK_TCK"), rss / 1024.0


def write_config(path, cams, eport, mport, model, work):
    lines = [
        "aws_region: us-east-1",
        f'metrics: {{listen: "127.0.0.1:{mport}"}}',
        f'spool: {{dir: "{work}/spool"}}',
        f'aws: {{endpoints: {{kinesisvideo: "http://127.0.0.1:{eport}"}}}}',
        "defaults:",
        "  fps_limit: 2",
        f'  publishers: {{local_dir: "{work}/out"}}',
        f'  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{model}", classes: [person]}}}}]',
        "cameras:",
    ]
    for name, stream, src in cams:
        lines.append(f"  - {{name: {name}, stream_name: {stream}, source: {src}}}")
    open(path, "w").write("\n".join(lines) + "\n")


def run(args, cams, eport, model, work, seconds, on_tick=None):
    mport = free_port()
    cfg = os.path.join(work, "c.yaml")
    write_config(cfg, cams, eport, mport, model, work)
    log = open(os.path.join(work, "log"), "w")
    p = subprocess.Popen([args.kvs_infer, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        names = [c[0] for c in cams]
        if not wait(lambda: all(metrics(mport).get(f'kvs_infer_source_fragments_total{{camera="{n}"}}', 0) >= 2
                                for n in names), 90):
            sys.exit("bench-kvs: cameras did not start; see " + log.name)
        time.sleep(args.warmup)
        m0, (cpu0, rss0), t0 = metrics(mport), proc_stat(p.pid), time.time()
        samples = [(0, rss0)]
        while time.time() - t0 < seconds:
            time.sleep(min(5, seconds - (time.time() - t0)) if seconds > 0 else 0)
            el = time.time() - t0
            samples.append((el, proc_stat(p.pid)[1]))
            if on_tick:
                on_tick(el)
        m1, (cpu1, rss1), t1 = metrics(mport), proc_stat(p.pid), time.time()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    b = diff(delay_buckets(m0), delay_buckets(m1))
    by_source = {}
    for src in sorted(set(c[2] for c in cams)):
        names = {c[0] for c in cams if c[2] == src}
        bs = diff(delay_buckets(m0, names), delay_buckets(m1, names))
        by_source[src] = (quantile(bs, 0.5), quantile(bs, 0.95))
    dec = sum(v for k, v in m1.items() if k.startswith("kvs_infer_frames_decoded_total")) - \
        sum(v for k, v in m0.items() if k.startswith("kvs_infer_frames_decoded_total"))
    errs = sum(v for k, v in m1.items() if k.startswith("kvs_infer_stream_errors_total"))
    return {
        "p50": quantile(b, 0.5), "p95": quantile(b, 0.95), "n": b[-1][1] if b else 0,
        "fps": dec / (t1 - t0), "cpu_per_cam": 100.0 * (cpu1 - cpu0) / (t1 - t0) / len(cams),
        "rss0": rss0, "rss1": rss1, "rss_max": max(r for _, r in samples), "samples": samples,
        "errors": errs, "by_source": by_source,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kvs_infer")
    ap.add_argument("--cameras", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--modes", default="hls,getmedia")
    ap.add_argument("--soak", action="store_true")
    ap.add_argument("--model")
    args = ap.parse_args()
    model = args.model or find([f"{ROOT}/models/coco/yolox_nano.onnx", f"{MODELS_MIRROR}/coco/yolox_nano.onnx"],
                               "models/coco/yolox_nano.onnx")
    media = find([f"{ROOT}/media/vtest.avi", f"{MEDIA_MIRROR}/opencv/vtest.avi",
                  "/usr/share/doc/opencv-doc/examples/data/vtest.avi"], "vtest.avi")
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret")
    streams = [f"s{i}" for i in range(args.cameras)]
    eport = free_port()
    with tempfile.TemporaryDirectory(prefix="kvs-bench-") as work:
        elog = open(os.path.join(work, "emulator.log"), "w")
        emu = subprocess.Popen(["node", f"{ROOT}/tests/standins/kvs/emulator.js", "--port", str(eport), "--media", media,
                                "--streams", ",".join(streams), "--secret", "bench-secret",
                                "--work", os.environ.get("KVS_EMULATOR_CACHE", "/tmp/kvs-emulator-cache")],
                               stdout=elog, stderr=subprocess.STDOUT)
        try:
            if not wait(lambda: "ready" in open(elog.name).read(), 120):
                sys.exit("bench-kvs: the emulator did not start")
            print(f"bench-kvs: {args.cameras} cameras on the KVS emulator (vtest.avi 768x576 10 fps, 1 s fragments), "
                  f"YOLOX-nano at fps_limit 2, {os.cpu_count()} CPUs")
            if args.soak:
                kinds = ["{mode: hls}", "{mode: hls, container: ts}", "{mode: getmedia}"]
                cams = [(f"cam{i}", s, kinds[i % 3]) for i, s in enumerate(streams)]
                last = [0]

                def faults(el):
                    if el - last[0] >= 30:
                        last[0] = el
                        for s in streams:
                            post(f"http://127.0.0.1:{eport}/_emulator/fault", {"stream": s, "kind": "expire"})
                            post(f"http://127.0.0.1:{eport}/_emulator/fault", {"stream": s, "kind": "cut", "count": 1})
                r = run(args, cams, eport, model, work, args.seconds, faults)
                print("soak: RSS MiB over time: " + ", ".join(f"{t:.0f}s {m:.0f}" for t, m in r["samples"][::6]))
                print(f"soak: {args.seconds:.0f} s, RSS {r['rss0']:.1f} -> {r['rss1']:.1f} MiB (max {r['rss_max']:.1f}), "
                      f"{r['fps']:.1f} frames/s decoded, {r['errors']:.0f} stream errors (faults injected every 30 s), "
                      f"delay p50 {r['p50']:.2f} s p95 {r['p95']:.2f} s")
                for src, (p50, p95) in r["by_source"].items():
                    print(f"soak: {src}: delay p50 {p50:.2f} s p95 {p95:.2f} s")
                return
            res = {}
            for mode in args.modes.split(","):
                src = "{mode: getmedia}" if mode == "getmedia" else "{mode: hls}" if mode == "hls" else "{mode: hls, container: ts}"
                cams = [(f"cam{i}", s, src) for i, s in enumerate(streams)]
                r = res[mode] = run(args, cams, eport, model, work, args.seconds)
                print(f"{mode:9s} delay producer->detector p50 {r['p50']:.3f} s  p95 {r['p95']:.3f} s  "
                      f"({r['n']:.0f} frames)  decoded {r['fps']:.1f} frames/s  CPU {r['cpu_per_cam']:.1f} %/camera  "
                      f"RSS {r['rss0']:.0f} -> {r['rss1']:.0f} MiB")
            if "hls" in res and "getmedia" in res:
                h, g = res["hls"], res["getmedia"]
                print(f"ratio hls/getmedia: p50 {h['p50'] / g['p50']:.1f}x  p95 {h['p95'] / g['p95']:.1f}x")
        finally:
            emu.terminate()
            emu.wait()


if __name__ == "__main__":
    main()
