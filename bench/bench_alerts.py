#!/usr/bin/env python3
"""Alert latency: a frame's producer timestamp (the KVS emulator, GetMedia)
to the webhook receiver and to the MQTT subscriber getting the alert.

  bench_alerts.py KVS_INFER [--cameras 6] [--alerts 200] [--max-seconds 300]

N cameras of vtest.avi on the emulator at fps_limit 2, YOLOX-nano (people),
every event routed to a webhook (webhook_receiver.py, signatures checked) and
to a local mosquitto (mosquitto_sub). Prints p50/p95 of producer timestamp ->
receipt for each, and where the time goes: producer timestamp -> the detector
starting on the frame (fetch, decode, waiting for its sampling slot; the
kvs_infer_frame_delay_seconds metric), -> detected_at (inference and the
track's confirmation on that frame), -> spooled (kvs_infer_stage_seconds
spool) -> received (delivery)."""
import argparse, json, os, pwd, signal, subprocess, sys, tempfile, time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_kvs as bk  # noqa: E402

ROOT = bk.ROOT


def iso_ms(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kvs_infer")
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()
    model = bk.find([f"{ROOT}/models/coco/yolox_nano.onnx"], "models/coco/yolox_nano.onnx")
    media = bk.find([f"{ROOT}/media/vtest.avi"], "vtest.avi")
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret")
    streams = [f"s{i}" for i in range(args.cameras)]
    eport, hport, qport, mport = (bk.free_port() for _ in range(4))
    procs = []
    with tempfile.TemporaryDirectory(prefix="kvs-bench-alerts-") as work:
        def start(cmd, name):
            p = subprocess.Popen(cmd, stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            return p
        try:
            start(["node", f"{ROOT}/tests/standins/kvs/emulator.js", "--port", str(eport), "--media", media,
                   "--streams", ",".join(streams), "--secret", "bench-secret",
                   "--work", os.environ.get("KVS_EMULATOR_CACHE", "/tmp/kvs-emulator-cache")], "emulator")
            start([sys.executable, f"{ROOT}/tests/integration/webhook_receiver.py", "--port", str(hport),
                   "--secret", "bench-secret", "--out", f"{work}/hook.jsonl",
                   "--max-seconds", str(int(args.max_seconds) + 120)], "hook")
            open(f"{work}/mq.conf", "w").write(
                f"listener {qport} 127.0.0.1\nallow_anonymous true\nuser {pwd.getpwuid(os.getuid()).pw_name}\n")
            mosq = "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else "mosquitto"
            start([mosq, "-c", f"{work}/mq.conf"], "broker")
            for f in ("emulator", "hook"):
                if not bk.wait(lambda: "ready" in open(f"{work}/{f}.log").read(), 120):
                    sys.exit(f"bench-alerts: {f} did not start")
            time.sleep(1)
            start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(qport), "-q", "1", "-t", "bench/events",
                   "-F", "%U %p"], "sub")
            cfg = f"{work}/c.yaml"
            lines = ["aws_region: us-east-1", f'metrics: {{listen: "127.0.0.1:{mport}"}}',
                     f'spool: {{dir: "{work}/spool"}}',
                     f'aws: {{endpoints: {{kinesisvideo: "http://127.0.0.1:{eport}"}}}}',
                     "defaults:", "  fps_limit: 2", "  source: {mode: getmedia}",
                     "  publishers:",
                     f'    webhook: {{url: "http://127.0.0.1:{hport}/hook", secret: bench-secret}}',
                     f'    mqtt: {{url: "mqtt://127.0.0.1:{qport}", topic_prefix: bench}}',
                     f'  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{model}", classes: [person]}}}}]',
                     "cameras:"] + [f"  - {{name: c{i}, stream_name: {s}}}" for i, s in enumerate(streams)]
            open(cfg, "w").write("\n".join(lines) + "\n")
            kvs = start([args.kvs_infer, "--config", cfg], "kvs")
            t0 = time.time()
            cpu0 = None
            while time.time() - t0 < args.max_seconds:
                time.sleep(2)
                if cpu0 is None:
                    try:
                        cpu0 = (bk.proc_stat(kvs.pid)[0], time.time(), bk.metrics(mport))
                    except Exception:
                        pass
                n = sum(1 for _ in open(f"{work}/hook.jsonl")) if os.path.exists(f"{work}/hook.jsonl") else 0
                if n >= args.alerts:
                    break
            m1, cpu1 = bk.metrics(mport), bk.proc_stat(kvs.pid)[0]
            kvs.send_signal(signal.SIGTERM)
            kvs.wait(timeout=60)
            time.sleep(1)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        hook = [json.loads(l) for l in open(f"{work}/hook.jsonl")] if os.path.exists(f"{work}/hook.jsonl") else []
        mq = []
        for l in open(f"{work}/sub.log"):
            if " " in l:
                ts, payload = l.split(" ", 1)
                try:
                    e = json.loads(payload)
                    e["_received_ms"] = float(ts) * 1000
                    mq.append(e)
                except ValueError:
                    pass
    def lat(evs):
        out = []
        for e in evs:
            p = e.get("frame", {}).get("producer_timestamp")
            if p:
                out.append((e["_received_ms"] - iso_ms(p), iso_ms(e["detected_at"]) - iso_ms(p),
                            e["_received_ms"] - iso_ms(e["detected_at"])))
        return out
    b = bk.delay_buckets(m1)
    sp_sum = sum(v for k, v in m1.items() if k.startswith('kvs_infer_stage_seconds_sum{stage="spool"'))
    sp_n = sum(v for k, v in m1.items() if k.startswith('kvs_infer_stage_seconds_count{stage="spool"'))
    print(f"bench-alerts: {args.cameras} cameras on the KVS emulator over GetMedia, fps_limit 2, YOLOX-nano people, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, evs in (("webhook", hook), ("mqtt", mq)):
        L = lat(evs)
        if not L:
            print(f"  {name}: no alerts")
            continue
        tot, det, dlv = zip(*L)
        print(f"  {name:8s} {len(L)} alerts: producer timestamp -> received p50 {pct(tot, .5) / 1e3:.3f} s  "
              f"p95 {pct(tot, .95) / 1e3:.3f} s  (-> detected_at p50 {pct(det, .5) / 1e3:.3f} / p95 "
              f"{pct(det, .95) / 1e3:.3f} s; detected_at -> received p50 {pct(dlv, .5) / 1e3:.3f} / p95 "
              f"{pct(dlv, .95) / 1e3:.3f} s)")
    print(f"  producer timestamp -> detector start (fetch, decode, sampling slot) p50 {bk.quantile(b, .5):.3f} s  "
          f"p95 {bk.quantile(b, .95):.3f} s; spool write mean {sp_sum / max(sp_n, 1) * 1e3:.2f} ms")
    if cpu0:
        el = time.time() - cpu0[1]
        n = len(hook)
        print(f"  kvs-infer CPU {100 * (cpu1 - cpu0[0]) / max(el, 1):.0f}% of a core over the window "
              f"({n} webhook alerts; pipeline included)")


if __name__ == "__main__":
    main()
