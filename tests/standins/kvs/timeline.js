// A live stream's fragments: a producer that starts one GOP-long fragment
// after another (looping over the prepared footage), with producer and server
// timestamps, 47-digit fragment numbers, retention, and the switches that stall
// the producer or change its resolution.
'use strict';

const NUMBER_BASE = 91343852333181432392682062607743920146264n * 1000000n;
const INGEST_MS = 30; // producer -> server clock offset for a fragment's first frame

class Stream {
  constructor(name, rends, opts) {
    this.name = name;
    this.rends = rends;
    this.rend = 0;
    this.created = Date.now() - opts.historyMs;
    this.arn = `arn:aws:kinesisvideo:${opts.region}:123456789012:stream/${name}/${this.created}`;
    this.frags = [];
    this.count = 0;
    this.clip = opts.phase % rends[0].frags.length;
    this.nextStart = this.created;
    this.stallUntil = 0;
    this.retentionMs = opts.retentionMs;
    this.faults = { throttle: 0, error5xx: 0, cut: 0, corrupt: 0, garbage: 0 };
    this.applied = { throttle: 0, error5xx: 0, cut: 0, corrupt: 0, garbage: 0, stall: 0, resolution: 0, expire: 0 };
    this.getMediaConns = 0;
    this.calls = [];
    this.tick();
  }

  tick(now = Date.now()) {
    if (now < this.stallUntil) return;
    if (this.nextStart < this.stallUntil) this.nextStart = this.stallUntil;
    while (this.nextStart <= now) {
      const g = this.rends[this.rend].frags[this.clip];
      this.frags.push({
        index: this.count, number: (NUMBER_BASE + BigInt(this.count)).toString(), clip: this.clip,
        rend: this.rend, producer: this.nextStart, server: this.nextStart + INGEST_MS, dur: g.durMs,
        frames: g.frames, corrupt: false,
      });
      this.count++;
      this.nextStart += g.durMs;
      this.clip = (this.clip + 1) % this.rends[this.rend].frags.length;
    }
    const keepFrom = now - this.retentionMs;
    while (this.frags.length > 1 && (this.frags[0].producer < keepFrom || this.frags.length > 20000)) this.frags.shift();
  }

  // When the fragment's last frame has reached the server.
  completeAt(f) { return f.producer + f.dur + INGEST_MS; }
  frameAt(f, i) { return f.producer + f.frames[i].off + INGEST_MS; }
  complete(now = Date.now()) { this.tick(now); return this.frags.filter((f) => this.completeAt(f) <= now); }
  byNumber(n) { return this.frags.find((f) => f.number === n); }
  indexOf(n) {
    try { const i = BigInt(n) - NUMBER_BASE; return i >= 0n && i < BigInt(this.count) ? Number(i) : -1; } catch { return -1; }
  }
  byIndex(i) { this.tick(); const first = this.frags.length ? this.frags[0].index : 0; return this.frags[i - first]; }

  stall(ms) { this.tick(); this.stallUntil = Date.now() + ms; this.applied.stall++; }
  changeResolution() { this.tick(); this.rend = 1 - this.rend; this.applied.resolution++; }
  // Rate limit per API: at most `tps` calls in any second (the KVS quotas).
  allow(api, tps, now = Date.now()) {
    this.calls = this.calls.filter((c) => c.t > now - 1000);
    if (this.calls.filter((c) => c.api === api).length >= tps) return false;
    this.calls.push({ api, t: now });
    return true;
  }
  take(kind) {
    if (this.faults[kind] > 0) { this.faults[kind]--; this.applied[kind]++; return true; }
    return false;
  }
}

module.exports = { Stream, INGEST_MS };
