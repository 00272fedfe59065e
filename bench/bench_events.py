#!/usr/bin/env python3
"""The operator API at a million events (issue 26): kvs-infer with N cameras
on real footage and an events.jsonl of EVENTS real-shaped events; the time
to index them (events.db), then /healthz and events-API latency (p50/p99)
while CLIENTS clients page through events with the page's filters (camera,
label, time range, plate prefix and fuzzy, next pages, event by id).

  bench_events.py KVS_BIN MODEL MEDIA [--events 1000000] [--cameras 16]
                  [--clients 20] [--seconds 30]
"""
import argparse, http.client, json, os, random, shutil, socket, sqlite3, subprocess, sys
import tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("kvs"), ap.add_argument("model"), ap.add_argument("media")
ap.add_argument("--events", type=int, default=1000000)
ap.add_argument("--cameras", type=int, default=16)
ap.add_argument("--clients", type=int, default=20)
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--think", type=float, default=0, help="seconds a client waits between requests")
ap.add_argument("--fps", type=float, default=1, help="each camera's fps_limit")
ap.add_argument("--work", help="keep the events (and their index) here for the next run")
a = ap.parse_args()

work = a.work or tempfile.mkdtemp(prefix="kvs-bench-events.")
out = os.path.join(work, "out")
os.makedirs(out, exist_ok=True)
T0 = 1767225600000  # 2026-01-01
PLATES = ["AB%03dCD" % i for i in range(1000)]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


t = time.time()
marker = os.path.join(work, "events.%d" % a.events)
if not os.path.exists(marker):
  with open(os.path.join(out, "events.jsonl"), "w") as f:
      for i in range(a.events):
          ms = T0 + i * 2000
          cam = "cam%d" % (i % 24)
          e = {"schema_version": 1, "event_id": "%08x-%04x-7%03x-8000-%012x" % (ms >> 16, ms & 0xffff, i >> 24 & 0xfff, i),
               "event_type": "object", "camera_name": cam, "stream_name": cam + "-stream", "detector": "yolo",
               "model": "yolox_nano", "label": ("person", "car", "dog")[i % 3], "confidence": 0.5 + (i % 50) / 100,
               "track_id": i, "detected_at": iso(ms), "bbox": {"x": 10, "y": 20, "width": 100, "height": 200},
               "frame": {"width": 1280, "height": 720, "pts": i},
               "snapshot": "%s/2026/01/01/x/frame.jpg" % cam, "crops": []}
          if i % 7 == 0:
              e["plate"] = {"text": PLATES[i % 1000], "confidence": 0.9}
          f.write(json.dumps(e) + "\n")
  open(marker, "w").close()
size = os.path.getsize(os.path.join(out, "events.jsonl"))
print("events.jsonl: %d events, %.0f MB, written in %.1f s" % (a.events, size / 1e6, time.time() - t))

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
cams = "\n".join("  - {name: live%d}" % i for i in range(a.cameras))
open(os.path.join(work, "c.yaml"), "w").write(f"""metrics: {{listen: "127.0.0.1:{port}"}}
spool: {{dir: "{work}/spool"}}
defaults:
  fps_limit: {a.fps}
  source: {{mode: url, url: "{a.media}", loop: true}}
  publishers: {{local_dir: "{out}"}}
  detectors: [{{type: yolo, confidence_threshold: 0.5, params: {{model: "{a.model}", classes: [person]}}}}]
cameras:
{cams}
""")
kvs = subprocess.Popen([a.kvs, "--config", os.path.join(work, "c.yaml")],
                       stdout=open(os.path.join(work, "log"), "w"), stderr=subprocess.STDOUT)


def get(conn, path):
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return r.status, body, (time.perf_counter() - t) * 1000


try:
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if get(c, "/healthz")[0] == 200: break
        except OSError:
            time.sleep(0.2)
    t = time.time()
    c.timeout = 300
    c.close()
    get(c, "/api/v1/events?limit=1")  # opens the index
    db = os.path.join(out, "events.db")
    covered = 0
    while time.time() - t < 900:
        try:
            q = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=1)
            covered = q.execute("SELECT v FROM meta WHERE k = 'covered'").fetchone()[0]
            q.close()
        except Exception:
            pass
        if covered >= size: break
        time.sleep(0.5)
    print("index built (or caught up) in %.1f s (%.0f MB events.db)" % (time.time() - t, os.path.getsize(db) / 1e6))

    # Measured once every camera runs (16 models loading at start are not the steady state).
    t = time.time()
    while time.time() - t < 120:
        st, body, _ = get(c, "/api/v1/cameras")
        cams_now = json.loads(body)["cameras"] if st == 200 else []
        if cams_now and all(x["state"] == "running" and x["analysed"] > 2 for x in cams_now): break
        time.sleep(1)
    print("cameras running after %.1f s more" % (time.time() - t))
    time.sleep(5)
    api_ms, health_ms, errors, stop, by_kind = [], [], [], threading.Event(), {}
    KINDS = ["camera", "camera+label", "time range", "plate prefix", "plate fuzzy", "no such camera",
             "newest", "next page"]

    # Each client from an address of its own, as browsers are (the listener
    # takes 16 connections per address).
    def connect(seed):
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=("127.0.%d.%d" % (1 + seed // 200, 1 + seed % 200), 0))

    def client(seed):
        rnd = random.Random(seed)
        conn = connect(seed)
        before = None
        while not stop.is_set():
            k = rnd.randrange(7)
            if before and rnd.random() < 0.5:
                k, q = 7, "events?limit=30&before=" + before
            elif k == 0: q = "events?limit=30&camera=cam%d" % rnd.randrange(24)
            elif k == 1: q = "events?limit=30&camera=cam%d&label=car" % rnd.randrange(24)
            elif k == 2:
                since = T0 + rnd.randrange(a.events) * 2000
                q = "events?limit=30&since=%d&until=%d" % (since, since + 3600000)
            elif k == 3: q = "events?limit=30&plate=AB%d" % rnd.randrange(100)
            elif k == 4: q = "events?limit=30&plate=AB%03dCE&fuzzy=1" % rnd.randrange(1000)
            elif k == 5: q = "events?limit=10&camera=nope"
            else: q = "events?limit=30"
            try:
                st, body, ms = get(conn, "/api/v1/" + q)
                if st != 200: errors.append(st); continue
                api_ms.append(ms)
                by_kind.setdefault(KINDS[k], []).append(ms)
                page = json.loads(body)
                before = page["next_before"]
                time.sleep(a.think)
                if page["events"] and rnd.random() < 0.2:
                    st, _, ms = get(conn, "/api/v1/events/" + page["events"][0]["event_id"])
                    api_ms.append(ms)
                    by_kind.setdefault("by id", []).append(ms)
            except Exception as e:
                errors.append(str(e)); conn.close(); conn = connect(seed)
                time.sleep(0.1)

    def prober():
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,  # a probe's own connection
                                              source_address=("127.0.100.1", 0))
            try:
                st, _, ms = get(conn, "/healthz")
                health_ms.append(ms if st == 200 else 5000)
            except Exception:
                health_ms.append(5000)
            conn.close()
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    threads.append(threading.Thread(target=prober))
    for th in threads: th.start()
    time.sleep(a.seconds)
    stop.set()
    for th in threads: th.join()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p / 100))] if v else float("nan")

    print("%d cameras at %g fps, %d clients (%g s between requests), %.0f s: API %d requests, p50 %.1f ms, p99 %.1f ms; "
          "/healthz %d probes, p50 %.1f ms, p99 %.1f ms; %d errors"
          % (a.cameras, a.fps, a.clients, a.think, a.seconds, len(api_ms), pct(api_ms, 50), pct(api_ms, 99),
             len(health_ms), pct(health_ms, 50), pct(health_ms, 99), len(errors)))
    print("p99 by query: " + ", ".join("%s %.1f ms" % (k, pct(v, 99)) for k, v in sorted(by_kind.items())))
    r = subprocess.run(["sh", "-c", "grep -c . %s/events.jsonl" % out], capture_output=True, text=True)
    print("events.jsonl lines at the end: %s (the cameras kept writing)" % r.stdout.strip())
finally:
    kvs.terminate()
    kvs.wait(timeout=60)
    if not a.work: shutil.rmtree(work, ignore_errors=True)
