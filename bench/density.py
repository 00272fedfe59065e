#!/usr/bin/env python3
"""bench-density: how many cameras this box carries (issue 12).

N cameras of a generated 1080p25 clip with a 2 s GOP (vtest.avi upscaled by
ffmpeg at bench time, looped, paced like live cameras), fps_limit 0.5 (one
frame per GOP), YOLOX-nano, events to a local folder. After a warm-up, over a
window: frames analysed per second against those due, frames dropped by
reason, frames decoded per second, CPU (share of all cores), resident memory
(peak and per camera); then the inference-only ceiling for the same model and
threads (kvs-bench). The goal: at least 90 % of due frames analysed, at most 5 %
dropped, RSS under 1 GB.

With --clips PRE,POST (bench-clips, issue 23) each N runs twice, without and
with `clip: {pre_seconds: PRE, post_seconds: POST}`, and the rows compare:
analysed and dropped shares, CPU, peak RSS (added per camera: goal at most
5 MB), clips written, the remux CPU per clip, and each clip's start against
the one its event asked for (at most one GOP early, never late).
    density.py KVS_INFER KVS_BENCH [--cameras 16,64] [--seconds 60] [--warmup 20]
               [--decode auto] [--clips 5,5] [--mbps 4] [--out TABLE.md]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kvs import MEDIA_MIRROR, MODELS_MIRROR, ROOT, find, free_port, metrics, wait  # noqa: E402


def make_clip(path, media, mbps=None):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rate = ["-b:v", f"{mbps}M", "-maxrate", f"{mbps}M", "-bufsize", f"{2 * mbps}M"] if mbps else []
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "1", "-i", media, "-t", "60",
                    "-vf", "scale=1920:1080,fps=25", "-c:v", "libx264", "-preset", "veryfast", *rate,
                    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
                    path + ".part.mp4"], check=True)
    os.rename(path + ".part.mp4", path)


def total(m, name, where=""):
    return sum(v for k, v in m.items() if k.startswith(name + "{") and where in k)


def proc(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                st[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return cpu, st["VmRSS"], st["VmHWM"]


def run(binary, clip, model, n, args, work, clips=None):
    port = free_port()
    tag = f"{n}-clips" if clips else f"{n}"
    cfg = os.path.join(work, f"density-{tag}.yaml")
    with open(cfg, "w") as f:
        f.write(f'metrics: {{listen: "127.0.0.1:{port}"}}\nspool: {{dir: "{work}/spool-{tag}"}}\n'
                + (f"batch: {{max: {args.batch}}}\n" if args.batch > 1 else "") +
                f"defaults:\n  fps_limit: 0.5\n  decode: {args.decode}\n"
                + (f"  clip: {{pre_seconds: {clips[0]}, post_seconds: {clips[1]}}}\n" if clips else "") +
                f'  source: {{mode: url, url: "{clip}", loop: true}}\n'
                f'  publishers: {{local_dir: "{work}/out-{tag}"}}\n'
                f'  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{model}", '
                f"classes: [person]}}}}]\ncameras:\n")
        for i in range(n):
            f.write(f"  - name: cam{i:03d}\n")
    log = open(os.path.join(work, f"density-{tag}.log"), "w")
    p = subprocess.Popen([binary, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait(lambda: metrics(port), 30)
        time.sleep(args.warmup)
        m0, (c0, _, _), t0 = metrics(port), proc(p.pid), time.time()
        time.sleep(args.seconds)
        m1, (c1, rss, hwm), t1 = metrics(port), proc(p.pid), time.time()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    dt = t1 - t0
    d = lambda name, where="": (total(m1, name, where) - total(m0, name, where)) / dt  # noqa: E731
    due = n * 0.5
    r = {"n": n, "due": due, "analysed": d("kvs_infer_frames_processed_total"),
         "decoded": d("kvs_infer_frames_decoded_total"),
         "stale": d("kvs_infer_frames_dropped_total", 'reason="stale"'),
         "behind": d("kvs_infer_frames_dropped_total", 'reason="behind"'),
         "cpu": 100 * (c1 - c0) / dt / os.cpu_count(), "rss": rss, "hwm": hwm}
    r["pct"] = 100 * r["analysed"] / due
    r["drop_pct"] = 100 * (r["stale"] + r["behind"]) / due
    s = lambda name: total(m1, name + "_sum") - total(m0, name + "_sum")  # noqa: E731
    c = lambda name: total(m1, name + "_count") - total(m0, name + "_count")  # noqa: E731
    for stage in ("decode", "convert"):
        num = sum(v for k, v in m1.items() if k.startswith("kvs_infer_stage_seconds_sum{") and f'"{stage}"' in k) - \
            sum(v for k, v in m0.items() if k.startswith("kvs_infer_stage_seconds_sum{") and f'"{stage}"' in k)
        r[stage + "_ms"] = 1000 * num / max(r["analysed"] * dt, 1)
    r["infer_ms"] = 1000 * s("kvs_infer_inference_seconds") / max(c("kvs_infer_inference_seconds"), 1)
    r["clips"] = total(m1, "kvs_infer_clips_total") - total(m0, "kvs_infer_clips_total")
    remux = total(m1, "kvs_infer_clip_remux_seconds_total") - total(m0, "kvs_infer_clip_remux_seconds_total")
    r["remux_ms"] = 1000 * remux / r["clips"] if r["clips"] else 0.0
    r["ring_mb"] = total(m1, "kvs_infer_clip_ring_bytes") / 1e6 / n
    r["clip_mode"] = f"clips {clips[0]}+{clips[1]} s" if clips else "no clips"
    r["early"] = start_accuracy(os.path.join(work, f"out-{tag}"))
    return r


def start_accuracy(folder):
    """Each stored clip's first frame against the start its event asked for
    (seconds: positive is early). Goal: at most one GOP (2 s) early, never late."""
    asked, got = {}, []
    path = os.path.join(folder, "events.jsonl")
    if not os.path.exists(path):
        return []
    for line in open(path):
        e = json.loads(line)
        c = e.get("clip") or {}
        if e["event_type"] == "object" and c.get("status") == "pending":
            asked[e["event_id"]] = c["start"]
        elif (e["event_type"] == "clip_ready" and c.get("status") in ("ready", "cut") and e["event_id"] in asked
              and "event_id" not in c):  # a shared clip starts with the first event's range
            got.append(asked[e["event_id"]] - c["start"])
    return got


def ceiling(bench, clip, model):
    out = subprocess.run([bench, "--model", model, "--clip", clip, "--cameras", "1", "--seconds", "10"],
                         capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"inference-only\s+workers=(\d+)\s+([\d.]+) frames/s", out)
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("bench")
    ap.add_argument("--cameras", default="16,64")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--decode", default="auto")
    ap.add_argument("--batch", type=int, default=1,
                    help="batch: {max: N} with a batch-dynamic copy of the model (N > 1)")
    ap.add_argument("--clips", help="PRE,POST seconds: each N also with clips (bench-clips)")
    ap.add_argument("--mbps", type=float, help="encode the footage at this bit rate (e.g. 4: the clips goal's)")
    ap.add_argument("--out")
    args = ap.parse_args()
    model = find([os.path.join(ROOT, "models/coco/yolox_nano.onnx"),
                  os.path.join(MODELS_MIRROR, "coco/yolox_nano.onnx")], "yolox_nano.onnx")
    if args.batch > 1:
        sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
        from make_batch_model import batch_dynamic
        copy = os.path.join(os.path.dirname(os.path.abspath(args.binary)), "bench-media", "yolox_nano_batch.onnx")
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        batch_dynamic(model, copy)
        model = copy
    media = find([os.path.join(ROOT, "media/vtest.avi"), os.path.join(MEDIA_MIRROR, "opencv/vtest.avi"),
                  "/usr/share/doc/opencv-doc/examples/data/vtest.avi"], "vtest.avi")
    name = f"density-1080p25-gop2s-{args.mbps:g}mbps.mp4" if args.mbps else "density-1080p25-gop2s.mp4"
    clip = os.path.join(os.path.dirname(os.path.abspath(args.binary)), "bench-media", name)
    make_clip(clip, media, args.mbps)
    print(f"bench-density: {os.cpu_count()} CPU(s), 1080p25 GOP 2 s, fps_limit 0.5, decode {args.decode}, "
          f"batch {args.batch}, "
          f"{args.seconds:.0f} s window after {args.warmup:.0f} s warm-up", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kvs-density-") as work:
        modes = [None, tuple(float(x) for x in args.clips.split(","))] if args.clips else [None]
        for n, mode in ((int(x), m) for x in args.cameras.split(",") for m in modes):
            r = run(args.binary, clip, model, n, args, work, mode)
            rows.append(r)
            ok = r["pct"] >= 90 and r["drop_pct"] <= 5 and r["hwm"] < 1024
            if mode:
                base = rows[-2]
                added = (r["hwm"] - base["hwm"]) / n
                ok = ok and added <= 5
                print(f"N={n:4d}  {r['clip_mode']}: {r['clips']:.0f} clips in the window, remux "
                      f"{r['remux_ms']:.1f} ms CPU per clip, ring {r['ring_mb']:.1f} MB per camera, "
                      f"peak RSS +{added:.1f} MB per camera", flush=True)
                early = r["early"]
                if early:
                    ok = ok and min(early) >= -0.001 and max(early) <= 2.001
                    print(f"N={n:4d}  clip start vs asked: {len(early)} clips, early by {min(early):.2f} .. "
                          f"{max(early):.2f} s (mean {sum(early) / len(early):.2f}; goal: 0 .. 2 s, one GOP)",
                          flush=True)
            print(f"N={n:4d}  {r['clip_mode'] + '  ' if args.clips else ''}analysed {r['analysed']:6.2f}/s of {r['due']:.1f} due ({r['pct']:5.1f} %)  "
                  f"dropped stale {r['stale']:.2f}/s behind {r['behind']:.2f}/s ({r['drop_pct']:.1f} %)  "
                  f"decoded {r['decoded']:6.1f}/s  CPU {r['cpu']:5.1f} %  RSS {r['rss']:.0f} MB "
                  f"(peak {r['hwm']:.0f}, {r['hwm'] / n:.1f} per camera)  per analysed frame: decode "
                  f"{r['decode_ms']:.1f} ms, convert {r['convert_ms']:.1f} ms, inference {r['infer_ms']:.1f} ms  "
                  f"goal {'met' if ok else 'NOT met'}", flush=True)
        workers, inf = ceiling(args.bench, clip, model)
    print(f"inference-only ceiling: {inf:.1f} frames/s ({workers} worker(s)) = {inf / 0.5:.0f} cameras at 0.5 fps")
    if args.out:
        with open(args.out, "w") as f:
            f.write("| cameras | clips | analysed/s (of due) | dropped | decoded/s | CPU | peak RSS (per camera) |\n|---|---|---|---|---|---|---|\n")
            for r in rows:
                f.write(f"| {r['n']} | {r['clip_mode']} | {r['analysed']:.1f} of {r['due']:.0f} ({r['pct']:.0f} %) | {r['drop_pct']:.1f} % | "
                        f"{r['decoded']:.0f} | {r['cpu']:.0f} % | {r['hwm']:.0f} MB ({r['hwm'] / r['n']:.1f}) |\n")


if __name__ == "__main__":
    main()
