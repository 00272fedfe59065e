#!/usr/bin/env python3
"""Cluster mode at 1,000 cameras on one machine (issue 28): 20 worker
processes (kvs-bench-cluster: the real coordinator and lease-table calls,
cameras that cost nothing) share the cameras through dynalite behind the
signature-checking proxy. Measures the time to balance from a cold start,
after adding 5 workers and after kill -9 of 5; per-camera takeover times;
cameras with zero or two owners (from every start/stop the workers print),
how long a steal leaves a camera with no owner;
lease-table requests per second against docs/cluster.md's formula.
Usage: bench_cluster.py BENCH_BIN [--cameras 1000] [--workers 20] [--lease-s 10]"""
import argparse, json, math, os, signal, socket, statistics, subprocess, sys, tempfile, time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.path.join(HERE, "..", "tests", "standins")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_log(path, what, limit=60):
    end = time.time() + limit
    while time.time() < end:
        if os.path.exists(path) and what in open(path).read():
            return
        time.sleep(0.2)
    sys.exit(f"{path}: no '{what}' in {limit} s")


class Run:
    def __init__(self, a, work):
        self.a, self.work, self.procs, self.killed, self.side = a, work, {}, {}, []
        dport, self.pport = free_port(), free_port()
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret")
        for name, cmd in (("dynalite", ["node", f"{NODE}/serve.js", "dynamodb", str(dport)]),
                          ("proxy", ["node", f"{NODE}/sigv4_proxy.js", "--port", str(self.pport), "--target",
                                     str(dport), "--secret", "emulator-secret"])):
            log = open(f"{work}/{name}.log", "w")
            self.side.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            wait_log(f"{work}/{name}.log", "ready")

    def start(self, name):
        out = open(f"{self.work}/{name}.out", "w")
        self.procs[name] = subprocess.Popen(
            [self.a.bin, "--endpoint", f"http://127.0.0.1:{self.pport}", "--worker", name, "--cameras",
             str(self.a.cameras), "--lease-s", str(self.a.lease_s)],
            stdout=out, stderr=open(f"{self.work}/{name}.err", "w"), env=self.env)

    def kill(self, name):
        self.procs[name].kill()
        self.procs[name].wait()
        self.killed[name] = time.time() * 1000

    def requests(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.pport}/__proxy/stats", timeout=10) as r:
            return json.load(r)["checked"]

    def events(self):
        ev = []
        for w in self.procs:
            for line in open(f"{self.work}/{w}.out"):
                p = line.split()
                if len(p) == 3:
                    ev.append((int(p[2]), w, p[0], p[1]))
        return sorted(ev)

    def intervals(self, now):
        """camera -> [(worker, from_ms, to_ms)]: a killed worker's end at its kill"""
        iv, open_ = {}, {}
        for t, w, what, cam in self.events():
            if what == "start":
                open_[(w, cam)] = t
            elif (w, cam) in open_:
                iv.setdefault(cam, []).append((w, open_.pop((w, cam)), t))
        for (w, cam), t in open_.items():
            iv.setdefault(cam, []).append((w, t, self.killed.get(w, now)))
        return iv

    def holdings(self):
        now = time.time() * 1000
        held = {w: 0 for w in self.procs if w not in self.killed}
        owners = {}
        for cam, ivs in self.intervals(now).items():
            live = [w for w, a, b in ivs if b >= now and w in held]
            owners[cam] = len(live)
            for w in live:
                held[w] += 1
        return held, owners

    def balanced(self):
        held, owners = self.holdings()
        n = self.a.cameras
        return (len(owners) == n and all(v == 1 for v in owners.values())
                and max(held.values()) <= math.ceil(n / len(held)))

    def wait_balanced(self, limit):
        t0 = time.time()
        while time.time() - t0 < limit:
            if self.balanced():
                return time.time() - t0
            time.sleep(0.5)
        held, owners = self.holdings()
        sys.exit(f"not balanced in {limit} s: held {sorted(held.values())}, "
                 f"owners {sorted(set(owners.values()))}, cameras seen {len(owners)}")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in self.side:
            p.terminate()


def owner_counts(run, t_from, t_to, step=100):
    """per instant (every step ms): cameras with 0 and with 2+ owners"""
    iv = run.intervals(t_to)
    cams = [f"cam{i:04d}" for i in range(run.a.cameras)]
    zero, two = [], []
    for t in range(int(t_from), int(t_to), step):
        z = d = 0
        for c in cams:
            k = sum(1 for w, a, b in iv.get(c, []) if a <= t < b)
            z += k == 0
            d += k >= 2
        zero.append(z)
        two.append(d)
    return zero, two


def steal_gaps(iv, t_from, t_to):
    """ms from one owner's stop to the next owner's start, for the moves
    between live workers (steals) that began in [t_from, t_to)"""
    gaps = []
    for ivs in iv.values():
        ivs = sorted(ivs, key=lambda x: x[1])
        for (w1, a1, b1), (w2, a2, b2) in zip(ivs, ivs[1:]):
            if w1 != w2 and t_from <= b1 < t_to and a2 >= b1:
                gaps.append(a2 - b1)
    return gaps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--lease-s", type=int, default=10)
    ap.add_argument("--steady-s", type=int, default=30)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kvs-bench-cluster.")
    run = Run(a, work)
    rows = []
    try:
        t_cold = time.time() * 1000
        for i in range(a.workers):
            run.start(f"w{i:02d}")
        rows.append(("cold start: balanced after", f"{run.wait_balanced(900):.1f} s"))
        r0, t0 = run.requests(), time.time()
        time.sleep(a.steady_s)
        rate = (run.requests() - r0) / (time.time() - t0)
        predicted = (a.cameras + a.workers) * 3 / a.lease_s
        rows.append((f"lease-table requests/s, steady ({a.workers} workers)",
                     f"{rate:.0f} measured, {predicted:.0f} predicted"))
        t_settled = time.time() * 1000
        for i in range(a.workers, a.workers + 5):
            run.start(f"w{i:02d}")
        rows.append(("after adding 5 workers: balanced after", f"{run.wait_balanced(900):.1f} s"))
        now = time.time() * 1000
        victims = [f"w{i:02d}" for i in range(5)]
        owned = [c for c, ivs in run.intervals(now).items() if any(w in victims and b >= now for w, x, b in ivs)]
        t_kill = time.time() * 1000
        for v in victims:
            run.kill(v)
        rows.append(("after kill -9 of 5 workers: balanced after", f"{run.wait_balanced(900):.1f} s"))
        time.sleep(1)
        iv = run.intervals(time.time() * 1000)
        take = sorted(min((x for w, x, b in iv[c] if w not in victims and x >= t_kill), default=math.inf) - t_kill
                      for c in owned)
        done = [t / 1000 for t in take if t != math.inf]
        if done:
            q = statistics.quantiles(done, n=20) if len(done) > 1 else [done[0]] * 19
            rows.append((f"takeover of the dead workers' {len(owned)} cameras",
                         f"p50 {statistics.median(done):.1f} s, p95 {q[18]:.1f} s, max {max(done):.1f} s "
                         f"(lease {a.lease_s} s)"))
        t_end = time.time() * 1000
        zero, two = owner_counts(run, t_settled, t_end)
        zero_live = [z for t, z in zip(range(int(t_settled), int(t_end), 100), zero) if not (t_kill <= t)]
        rows.append(("cameras with two owners, at any instant (after the cold start)",
                     f"max {max(two)}, {sum(1 for d in two if d)} of {len(two)} instants"))
        overlaps = [min(b1, b2) - max(a1, a2) for ivs in run.intervals(t_end).values()
                    for i, (w1, a1, b1) in enumerate(ivs) for w2, a2, b2 in ivs[i + 1:]
                    if max(a1, a2) >= t_settled and min(b1, b2) > max(a1, a2)]
        if overlaps:
            rows.append(("two owners of one camera (a steal until the victim's renewal)",
                         f"{len(overlaps)} times, p50 {statistics.median(overlaps) / 1000:.1f} s, "
                         f"max {max(overlaps) / 1000:.1f} s"))
        gaps = steal_gaps(run.intervals(t_end), t_settled, t_kill)
        if gaps:
            rows.append(("a steal: no owner between the old owner's stop and the new one's start",
                         f"{len(gaps)} steals, p50 {statistics.median(gaps) / 1000:.1f} s, "
                         f"max {max(gaps) / 1000:.1f} s"))
        rows.append(("cameras with no owner: while adding workers / after the kill",
                     f"max {max(zero_live) if zero_live else 0} / max {max(zero[len(zero_live):] or [0])}"))
        z0, t0_ = owner_counts(run, t_cold, t_settled)
        rows.append(("cameras with two owners during the cold start", f"max {max(t0_)}"))
    finally:
        run.stop()
    w = max(len(r[0]) for r in rows)
    print(f"\n{a.cameras} cameras, {a.workers} workers (+5, then -5 by kill -9), lease_seconds {a.lease_s}")
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    print(f"  (work dir {work})")


if __name__ == "__main__":
    main()
