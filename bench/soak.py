#!/usr/bin/env python3
"""bench-soak: the production soak of issue 9, on this machine's stand-ins.

Ten KVS cameras on the emulator (HLS fMP4, HLS TS and GetMedia mixed), real
footage, YOLOX-nano at fps_limit 1, events to the local folder and to S3
(s3rver, which keeps its objects on disk across restarts). While it runs:
  - every 30 s, every stream's HLS session expires and its connection is cut;
  - every 60 s, SIGHUP, alternating one camera's fps_limit (a real change);
  - every 10 minutes, S3 goes away for 60 s (a publisher outage).
At the end it waits for the spool to empty, sends SIGTERM and checks: exit 0
within 5 s, every event produced is in events.jsonl and has its snapshot in
S3, and resident memory is flat (first against last ten minutes).
    soak.py KVS_INFER [--seconds 3600] [--cameras 10]
"""
import argparse
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kvs import MEDIA_MIRROR, MODELS_MIRROR, ROOT, find, free_port, metrics, post, proc_stat, wait  # noqa: E402

KINDS = ["{mode: hls}", "{mode: hls, container: ts}", "{mode: getmedia}"]


def write_config(path, work, eport, sport, mport, model, cameras, slow):
    lines = [
        "aws_region: us-east-1",
        f'metrics: {{listen: "127.0.0.1:{mport}"}}',
        f'spool: {{dir: "{work}/spool"}}',
        f'aws: {{endpoints: {{kinesisvideo: "http://127.0.0.1:{eport}", s3: "http://127.0.0.1:{sport}"}}, '
        "s3_force_path_style: true}",
        "defaults:",
        "  fps_limit: 1",
        f'  publishers: {{local_dir: "{work}/out", s3_bucket: snaps}}',
        f'  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{model}", classes: [person]}}}}]',
        "cameras:",
    ]
    for i in range(cameras):
        extra = ", fps_limit: 0.5" if slow and i == 0 else ""
        lines.append(f"  - {{name: cam{i}, stream_name: s{i}, source: {KINDS[i % 3]}{extra}}}")
    tmp = path + ".tmp"
    open(tmp, "w").write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def start_s3(work, sport):
    log = open(os.path.join(work, "s3rver.log"), "a")
    p = subprocess.Popen(["node", f"{ROOT}/tests/standins/serve.js", "s3", str(sport), f"{work}/s3data", "snaps"],
                         stdout=log, stderr=subprocess.STDOUT)
    if not wait(lambda: open(log.name).read().count("ready") > start_s3.count, 30):
        sys.exit("bench-soak: s3rver did not start")
    start_s3.count += 1
    return p


start_s3.count = 0


def produced_ids(log):
    ids = []
    for line in open(log):
        if '"msg":"event: ' in line and '"event_id":"' in line:
            ids.append(line.split('"event_id":"', 1)[1].split('"', 1)[0])
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kvs_infer")
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--cameras", type=int, default=10)
    args = ap.parse_args()
    model = find([f"{ROOT}/models/coco/yolox_nano.onnx", f"{MODELS_MIRROR}/coco/yolox_nano.onnx"],
                 "models/coco/yolox_nano.onnx")
    media = find([f"{ROOT}/media/vtest.avi", f"{MEDIA_MIRROR}/opencv/vtest.avi",
                  "/usr/share/doc/opencv-doc/examples/data/vtest.avi"], "vtest.avi")
    os.environ.update(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    streams = [f"s{i}" for i in range(args.cameras)]
    eport, sport, mport = free_port(), free_port(), free_port()
    procs = []
    with tempfile.TemporaryDirectory(prefix="kvs-soak-") as work:
        try:
            elog = open(os.path.join(work, "emulator.log"), "w")
            procs.append(subprocess.Popen(
                ["node", f"{ROOT}/tests/standins/kvs/emulator.js", "--port", str(eport), "--media", media,
                 "--streams", ",".join(streams), "--secret", "S3RVER",
                 "--work", os.environ.get("KVS_EMULATOR_CACHE", "/tmp/kvs-emulator-cache")],
                stdout=elog, stderr=subprocess.STDOUT))
            if not wait(lambda: "ready" in open(elog.name).read(), 120):
                sys.exit("bench-soak: the emulator did not start")
            s3 = start_s3(work, sport)
            cfg, log = os.path.join(work, "c.yaml"), os.path.join(work, "log")
            write_config(cfg, work, eport, sport, mport, model, args.cameras, False)
            p = subprocess.Popen([args.kvs_infer, "--config", cfg], stdout=open(log, "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            if not wait(lambda: metrics(mport).get("kvs_infer_frames_processed_total{camera=\"cam0\"}", 0) > 0, 90):
                sys.exit("bench-soak: the cameras did not start; see " + log)
            print(f"bench-soak: {args.cameras} KVS cameras, {args.seconds:.0f} s, faults every 30 s, SIGHUP every "
                  "60 s, S3 down 60 s every 10 min", flush=True)
            t0, samples, reloads, outages, s3_down_at = time.time(), [], 0, 0, None
            next_fault, next_hup, next_outage = 30, 60, 600
            while True:
                el = time.time() - t0
                if el >= args.seconds:
                    break
                samples.append((el, proc_stat(p.pid)[1]))
                if el >= next_fault:
                    next_fault += 30
                    for s in streams:
                        post(f"http://127.0.0.1:{eport}/_emulator/fault", {"stream": s, "kind": "expire"})
                        post(f"http://127.0.0.1:{eport}/_emulator/fault", {"stream": s, "kind": "cut", "count": 1})
                if el >= next_hup:
                    next_hup += 60
                    reloads += 1
                    write_config(cfg, work, eport, sport, mport, model, args.cameras, reloads % 2 == 1)
                    p.send_signal(signal.SIGHUP)
                if el >= next_outage and s3_down_at is None:
                    next_outage += 600
                    outages += 1
                    s3.terminate()
                    s3.wait()
                    s3_down_at = el
                if s3_down_at is not None and el - s3_down_at >= 60:
                    s3 = start_s3(work, sport)
                    s3_down_at = None
                if p.poll() is not None:
                    sys.exit(f"bench-soak: kvs-infer exited ({p.returncode}) after {el:.0f} s; see {log}")
                if int(el) % 300 < 5:
                    print(f"  {el:5.0f} s  RSS {samples[-1][1]:.1f} MiB", flush=True)
                time.sleep(5)
            if s3_down_at is not None:
                s3 = start_s3(work, sport)
            procs.append(s3)
            drained = wait(lambda: metrics(mport).get("kvs_infer_spool_records", 1) == 0, 120)
            m = metrics(mport)
            t_stop = time.time()
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "killed"
            stop_s = time.time() - t_stop
            ids = produced_ids(log)
            lines = sum(1 for _ in open(os.path.join(work, "out", "events.jsonl")))
            in_s3 = {f.split("/")[-2] for f in glob.glob(f"{work}/s3data/snaps/**/frame.jpg*", recursive=True)}
            missing_s3 = [i for i in ids if i not in in_s3]
            first = [r for t, r in samples if t < 600]
            last = [r for t, r in samples if t >= args.seconds - 600]
            avg = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
            decoded = sum(v for k, v in m.items() if k.startswith("kvs_infer_frames_decoded_total"))
            errors = sum(v for k, v in m.items() if k.startswith("kvs_infer_stream_errors_total"))
            print(f"soak: {args.seconds:.0f} s, {reloads} reloads, {outages} S3 outages, {decoded:.0f} frames decoded, "
                  f"{errors:.0f} stream errors counted")
            print(f"soak: RSS first 10 min avg {avg(first):.1f} MiB, last 10 min avg {avg(last):.1f} MiB, "
                  f"max {max(r for _, r in samples):.1f} MiB")
            print(f"soak: {len(ids)} events produced, {lines} in events.jsonl, {len(ids) - len(missing_s3)} with "
                  f"their snapshot in S3; spool drained before SIGTERM: {drained}")
            print(f"soak: SIGTERM -> exit {rc} in {stop_s:.2f} s")
            ok = rc == 0 and stop_s < 5 and lines == len(ids) and not missing_s3 and len(ids) > 0
            print("soak: PASS" if ok else "soak: FAIL")
            sys.exit(0 if ok else 1)
        finally:
            for q in procs:
                if q.poll() is None:
                    q.terminate()
                    q.wait()


if __name__ == "__main__":
    main()
