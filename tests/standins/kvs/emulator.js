#!/usr/bin/env node
// A Kinesis Video Streams emulator for tests and local demos, on 127.0.0.1
// only. See README.md for what it serves and where it departs from AWS.
//   node emulator.js --port 0 --media FILE|testsrc --streams cam1,cam2 [--secret S]
//        [--work DIR] [--fragment-ms 1000] [--fps 10] [--history-s 30] [--region us-east-1]
//        [--getmedia-max-s 2400] [--seconds N] [--bframes N (H.264 B-frames, default 0)]
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const { verify } = require('../sigv4_verify');
const { recordActions } = require('../actions_record');
const { prepare, rebaseM4s, rebaseTs } = require('./media');
const { Stream } = require('./timeline');
const mkv = require('./mkv');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) =>
  (v.startsWith('--') ? acc.concat([[v.slice(2), a[i + 1]]]) : acc), []));
const opts = {
  port: Number(args.port || 0), media: args.media || 'testsrc', secret: args.secret,
  work: args.work || path.join(os.tmpdir(), 'kvs-emulator'), fragMs: Number(args['fragment-ms'] || 1000),
  fps: Number(args.fps || 10), historyMs: Number(args['history-s'] || 30) * 1000, region: args.region || 'us-east-1',
  getMediaMaxMs: Number(args['getmedia-max-s'] || 2400) * 1000, seconds: args.seconds ? Number(args.seconds) : 0,
  bframes: Number(args.bframes || 0),
};
// (bframes 0 keeps the cache key of the media prepared before the option)
const rends = prepare(opts.media, opts.work, { fps: opts.fps, fragMs: opts.fragMs, seconds: opts.seconds,
  ...(opts.bframes ? { bframes: opts.bframes } : {}) });
// --prepare-only: fill the media cache and exit (the test suite does it once,
// before tests that start emulators side by side).
if ('prepare-only' in args) process.exit(0);
const streams = new Map();
(args.streams || 'stream').split(',').filter(Boolean).forEach((name, i) =>
  streams.set(name, new Stream(name, rends, { historyMs: opts.historyMs, region: opts.region, retentionMs: 3600000, phase: i * 7 })));
const sessions = new Map();
let endpoint = '';

function send(res, status, obj, type) {
  const headers = { 'content-type': 'application/json', 'x-amzn-RequestId': crypto.randomUUID() };
  if (type) headers['x-amzn-ErrorType'] = `${type}:http://internal.amazon.com/coral/com.amazon.kinesis.video.v20170930/`;
  res.writeHead(status, headers);
  res.end(JSON.stringify(obj));
}
const fail = (res, status, type, message) => send(res, status, { Message: message }, type);
const ERR = {
  notFound: (res) => fail(res, 404, 'ResourceNotFoundException', 'The requested stream is not found or not active.'),
  invalid: (res, m) => fail(res, 400, 'InvalidArgumentException', m),
  throttled: (res) => fail(res, 400, 'ClientLimitExceededException', 'Requests exceed the limit. Try again later.'),
  internal: (res) => fail(res, 500, 'InternalFailure', 'Injected internal failure.'),
};

function streamOf(body, res) {
  if (!!body.StreamName === !!body.StreamARN) { ERR.invalid(res, 'Exactly one of StreamName or StreamARN is required.'); return null; }
  const s = body.StreamName ? streams.get(body.StreamName) : [...streams.values()].find((x) => x.arn === body.StreamARN);
  if (!s) { ERR.notFound(res); return null; }
  return s;
}
// The injected faults every call on a stream goes through first.
function faulted(s, res) {
  if (s.take('throttle')) { ERR.throttled(res); return true; }
  if (s.take('error5xx')) { ERR.internal(res); return true; }
  return false;
}

const APIS = ['PUT_MEDIA', 'GET_MEDIA', 'LIST_FRAGMENTS', 'GET_MEDIA_FOR_FRAGMENT_LIST', 'GET_HLS_STREAMING_SESSION_URL',
  'GET_DASH_STREAMING_SESSION_URL', 'GET_CLIP', 'GET_IMAGES'];

function describeStream(s, body, res) {
  send(res, 200, { StreamInfo: { DeviceName: 'kvs-emulator', StreamName: s.name, StreamARN: s.arn, MediaType: 'video/h264',
    KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:alias/aws/kinesisvideo', Version: 'v1', Status: 'ACTIVE',
    CreationTime: s.created / 1000, DataRetentionInHours: 24 } });
}

function getDataEndpoint(s, body, res) {
  if (!APIS.includes(body.APIName)) return ERR.invalid(res, `1 validation error detected: Value '${body.APIName}' at 'aPIName' failed to satisfy constraint`);
  send(res, 200, { DataEndpoint: endpoint });
}

function range(v, lo, hi, def) { return v === undefined ? def : (Number.isInteger(v) && v >= lo && v <= hi ? v : NaN); }

function getHLSStreamingSessionURL(s, b, res) {
  const mode = b.PlaybackMode || 'LIVE';
  const sel = (b.HLSFragmentSelector && b.HLSFragmentSelector.FragmentSelectorType) || 'SERVER_TIMESTAMP';
  const tr = (b.HLSFragmentSelector && b.HLSFragmentSelector.TimestampRange) || null;
  const container = b.ContainerFormat || 'FRAGMENTED_MP4';
  const disc = b.DiscontinuityMode || (sel === 'SERVER_TIMESTAMP' ? 'ALWAYS' : 'NEVER');
  const display = b.DisplayFragmentTimestamp || 'NEVER';
  const expires = range(b.Expires, 300, 43200, 300);
  const max = range(b.MaxMediaPlaylistFragmentResults, 1, 5000, mode === 'ON_DEMAND' ? 1000 : 5);
  if (!['LIVE', 'LIVE_REPLAY', 'ON_DEMAND'].includes(mode)) return ERR.invalid(res, `Invalid PlaybackMode ${mode}`);
  if (!['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'].includes(sel)) return ERR.invalid(res, `Invalid FragmentSelectorType ${sel}`);
  if (!['FRAGMENTED_MP4', 'MPEG_TS'].includes(container)) return ERR.invalid(res, `Invalid ContainerFormat ${container}`);
  if (!['ALWAYS', 'NEVER', 'ON_DISCONTINUITY'].includes(disc)) return ERR.invalid(res, `Invalid DiscontinuityMode ${disc}`);
  if (!['ALWAYS', 'NEVER'].includes(display)) return ERR.invalid(res, `Invalid DisplayFragmentTimestamp ${display}`);
  if (Number.isNaN(expires)) return ERR.invalid(res, 'Expires must be between 300 and 43200 seconds.');
  if (Number.isNaN(max)) return ERR.invalid(res, 'MaxMediaPlaylistFragmentResults must be between 1 and 5000.');
  if (mode === 'LIVE' && tr) return ERR.invalid(res, 'TimestampRange must not be set for LIVE playback.');
  if (mode !== 'LIVE' && (!tr || tr.StartTimestamp === undefined)) return ERR.invalid(res, `StartTimestamp is required for ${mode}.`);
  if (mode === 'ON_DEMAND' && tr.EndTimestamp === undefined) return ERR.invalid(res, 'EndTimestamp is required for ON_DEMAND.');
  const start = tr ? tr.StartTimestamp * 1000 : 0, end = tr && tr.EndTimestamp !== undefined ? tr.EndTimestamp * 1000 : Infinity;
  if (tr && end !== Infinity && (end <= start || end - start > 86400000)) return ERR.invalid(res, 'EndTimestamp must be after StartTimestamp and within 24 hours of it.');
  const ts = (f) => (sel === 'PRODUCER_TIMESTAMP' ? f.producer : f.server);
  const done = s.complete();
  if (mode === 'LIVE' && !done.some((f) => f.server >= Date.now() - 30000))
    return fail(res, 404, 'ResourceNotFoundException', 'No fragments found in the stream for the streaming request.');
  if (mode !== 'LIVE' && !s.frags.some((f) => ts(f) >= start && ts(f) <= end))
    return fail(res, 404, 'ResourceNotFoundException', 'No fragments found in the stream for the streaming request.');
  const token = `${crypto.randomBytes(24).toString('base64url')}~`;
  const mine = [...sessions.values()].filter((x) => x.stream === s).sort((a, c) => a.created - c.created);
  if (mine.length >= 10) sessions.delete(mine[0].token); // the oldest is revoked
  sessions.set(token, { token, stream: s, mode, sel, ts, start, end, container, disc, display, max,
    created: Date.now(), expiresAt: Date.now() + expires * 1000, rend: s.rend });
  send(res, 200, { HLSStreamingSessionURL: `${endpoint}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=${token}` });
}

// The fragments a session lists right now.
function listed(ss) {
  const now = Date.now();
  const done = ss.stream.complete(now);
  if (ss.mode === 'LIVE') return { frags: done.slice(-ss.max), end: false };
  let sel = done.filter((f) => ss.ts(f) >= ss.start && ss.ts(f) <= ss.end);
  if (ss.mode === 'ON_DEMAND') return { frags: sel.slice(0, ss.max), end: true };
  sel = sel.filter((f) => ss.created + (ss.ts(f) - ss.start) <= now); // LIVE_REPLAY plays in real time
  const over = ss.end !== Infinity && ss.stream.frags.every((f) => ss.ts(f) > ss.end || sel.includes(f));
  return { frags: sel.slice(-ss.max), end: over };
}

function iso(ms) { return new Date(Math.round(ms)).toISOString(); }

function mediaPlaylist(ss) {
  const { frags, end } = listed(ss);
  const q = `SessionToken=${ss.token}`;
  const fmp4 = ss.container === 'FRAGMENTED_MP4';
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${fmp4 ? 7 : 3}`,
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(Math.max(0, ...frags.map((f) => f.dur)) / 1000))}`,
    `#EXT-X-MEDIA-SEQUENCE:${frags.length ? frags[0].index : 0}`];
  if (ss.mode === 'ON_DEMAND') lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
  lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  frags.forEach((f, i) => {
    const prev = frags[i - 1];
    const gap = prev && Math.abs(ss.ts(f) - (ss.ts(prev) + prev.dur)) > 50;
    const changed = prev && prev.rend !== f.rend;
    if (ss.disc === 'ALWAYS' || changed || (ss.disc === 'ON_DISCONTINUITY' && gap)) lines.push('#EXT-X-DISCONTINUITY');
    if (fmp4 && (!prev || changed)) lines.push(`#EXT-X-MAP:URI="getMP4InitFragment.mp4?${q}&TrackNumber=1&CodecPrivateDataIndex=${f.rend}"`);
    if (ss.display === 'ALWAYS') lines.push(`#EXT-X-PROGRAM-DATE-TIME:${iso(ss.ts(f))}`);
    const next = frags[i + 1];
    const secs = next && !changed ? (ss.ts(next) - ss.ts(f)) / 1000 : f.dur / 1000;
    lines.push(`#EXTINF:${(secs > 0 && secs < 3 * f.dur / 1000 ? secs : f.dur / 1000).toFixed(3)},`);
    lines.push(fmp4 ? `getMP4MediaFragment.mp4?FragmentNumber=${f.number}&${q}&TrackNumber=1`
      : `getTSFragment.ts?FragmentNumber=${f.number}&${q}`);
  });
  if (end) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

function masterPlaylist(ss) {
  const r = rends[ss.rend];
  return ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-STREAM-INF:CODECS="${r.codecs}",RESOLUTION=${r.width}x${r.height},FRAME-RATE=${r.fps.toFixed(1)},BANDWIDTH=1000000`,
    `getHLSMediaPlaylist.m3u8?SessionToken=${ss.token}&TrackNumber=1`, ''].join('\n');
}

// Flips bytes in the middle of the media data, leaving the container intact.
function corrupt(buf, from) {
  const out = Buffer.from(buf);
  for (let p = from + Math.floor((out.length - from) / 3); p < from + Math.floor((out.length - from) * 2 / 3); p += 7) {
    if (p % 188 > 8) out[p] ^= 0x5a;
  }
  return out;
}

// Sends a fragment whole, or cut in the middle when the cut fault is armed.
function sendMedia(s, res, type, buf) {
  if (s.take('cut')) {
    res.writeHead(200, { 'content-type': type, 'content-length': buf.length });
    res.write(buf.subarray(0, buf.length >> 1), () => res.socket.destroy());
    return;
  }
  res.writeHead(200, { 'content-type': type, 'content-length': buf.length });
  res.end(buf);
}

function hls(req, res, url) {
  const ss = sessions.get(url.searchParams.get('SessionToken') || '');
  if (!ss || Date.now() > ss.expiresAt) return fail(res, 403, 'NotAuthorizedException', 'Streaming session token is expired');
  const s = ss.stream;
  if (faulted(s, res)) return;
  const page = url.pathname.slice('/hls/v1/'.length);
  const m3u8 = (text) => { res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }); res.end(text); };
  if (page === 'getHLSMasterPlaylist.m3u8') return m3u8(masterPlaylist(ss));
  if (page === 'getHLSMediaPlaylist.m3u8') return m3u8(mediaPlaylist(ss));
  if (page === 'getMP4InitFragment.mp4' && ss.container === 'FRAGMENTED_MP4') {
    const r = Number(url.searchParams.get('CodecPrivateDataIndex') || ss.rend);
    if (!rends[r]) return ERR.invalid(res, 'Invalid codec private data index.');
    return sendMedia(s, res, 'video/mp4', rends[r].init);
  }
  const f = s.byNumber(url.searchParams.get('FragmentNumber') || '');
  if (!f) return fail(res, 404, 'ResourceNotFoundException', 'Fragment not found.');
  const g = rends[f.rend].frags[f.clip];
  const bad = s.take('corrupt');
  if (page === 'getMP4MediaFragment.mp4' || page === 'getTSFragment.ts') served(s, f);
  if (page === 'getMP4MediaFragment.mp4' && ss.container === 'FRAGMENTED_MP4') {
    let buf = rebaseM4s(g.m4s, rends[f.rend].timescale, ss.ts(f), f.index);
    if (bad) buf = corrupt(buf, buf.indexOf('mdat', 0, 'latin1') + 16);
    return sendMedia(s, res, 'video/mp4', buf);
  }
  if (page === 'getTSFragment.ts' && ss.container === 'MPEG_TS') {
    let buf = rebaseTs(g.ts, ss.ts(f));
    if (bad) buf = corrupt(buf, 0);
    return sendMedia(s, res, 'video/mp2t', buf);
  }
  fail(res, 404, 'ResourceNotFoundException', `No such resource ${page}`);
}

// Which fragments were handed out, to anyone: tests check that no fragment
// was skipped when a camera moves between workers.
const servedBy = new Map();
function served(s, f) {
  if (!servedBy.has(s)) servedBy.set(s, new Set());
  servedBy.get(s).add(f.index);
}

// GetMedia: where the selector starts, as an index into the stream's fragments.
function startIndex(s, sel, res) {
  const t = sel.StartSelectorType;
  s.tick();
  const frags = s.frags;
  const first = frags.length ? frags[0].index : 0;
  switch (t) {
    case 'NOW': return s.count; // the next fragment the producer starts
    case 'EARLIEST': return first;
    case 'FRAGMENT_NUMBER': case 'CONTINUATION_TOKEN': {
      const v = t === 'FRAGMENT_NUMBER' ? sel.AfterFragmentNumber : sel.ContinuationToken;
      const i = v && /^[a-zA-Z0-9_.-]{1,128}$/.test(v) ? s.indexOf(v) : -1;
      if (i < 0 || i < first) { ERR.invalid(res, `${t === 'FRAGMENT_NUMBER' ? 'AfterFragmentNumber' : 'ContinuationToken'} is invalid or no longer retained.`); return -1; }
      return i + 1; // "after" this fragment
    }
    case 'PRODUCER_TIMESTAMP': case 'SERVER_TIMESTAMP': {
      if (typeof sel.StartTimestamp !== 'number') { ERR.invalid(res, 'StartTimestamp is required.'); return -1; }
      const ms = sel.StartTimestamp * 1000, key = t === 'PRODUCER_TIMESTAMP' ? 'producer' : 'server';
      const f = frags.find((x) => x[key] + x.dur > ms);
      return f ? f.index : s.count;
    }
    default: ERR.invalid(res, `Invalid StartSelectorType ${t}`); return -1;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getMedia(s, b, res) {
  const sel = b.StartSelector || {};
  if (s.getMediaConns >= 3) return fail(res, 400, 'ConnectionLimitExceededException', 'Too many GetMedia connections for this stream.');
  let next = startIndex(s, sel, res);
  if (next < 0) return;
  s.getMediaConns++;
  let open = true;
  res.on('close', () => { open = false; });
  res.writeHead(200, { 'content-type': 'video/webm' });
  const write = async (buf) => { if (open && !res.write(buf)) await new Promise((r) => res.once('drain', r).once('close', r)); };
  const began = Date.now();
  let idleSince = Date.now();
  try {
    while (open && Date.now() - began < opts.getMediaMaxMs) {
      const f = s.byIndex(next);
      if (!f) {
        if (next < (s.frags.length ? s.frags[0].index : 0)) { next = s.frags[0].index; continue; }
        if (Date.now() - idleSince > 3000) break; // no data: the read times out, as AWS's does
        await sleep(20);
        continue;
      }
      const cut = s.take('cut'), bad = s.take('corrupt');
      if (s.take('garbage')) await write(crypto.randomBytes(64));
      const r = rends[f.rend];
      await write(mkv.fragmentHead(r.track, f));
      for (let i = 0; i < f.frames.length && open; i++) {
        const due = s.frameAt(f, i);
        while (open && Date.now() < due) await sleep(Math.min(20, due - Date.now()));
        const fr = f.frames[i];
        const data = bad && i > 0 ? corrupt(fr.data, 0) : fr.data;
        await write(mkv.simpleBlock(fr.off, fr.key, data));
        if (cut && i === f.frames.length >> 1) { res.socket.destroy(); return; }
      }
      while (open && Date.now() < s.completeAt(f)) await sleep(10);
      await write(mkv.fragmentTail(f, Math.max(0, Date.now() - f.server)));
      if (open) served(s, f);
      next = f.index + 1;
      idleSince = Date.now();
    }
    res.end();
  } finally {
    s.getMediaConns--;
  }
}

// GetClip: the fragments of the range (those starting in it, as HLS lists
// them) as one MP4: the init segment and the fragments rebased to their
// place in the clip (it starts at 0, as a player expects), remuxed. AWS caps a clip
// at 200 fragments and 100 MB and refuses one whose codec changes (the
// resolution fault) inside the range.
// The fragments as one progressive MP4 (index first, remuxed, no
// re-encoding): what a <video> plays with its whole duration known, as it
// does AWS's clips.
function progressive(fmp4) {
  const tmp = path.join(opts.work, `getclip-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  try {
    fs.writeFileSync(`${tmp}.in.mp4`, fmp4);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', `${tmp}.in.mp4`, '-c', 'copy',
      '-movflags', '+faststart', `${tmp}.mp4`], { stdio: ['ignore', 'ignore', 'inherit'] });
    return fs.readFileSync(`${tmp}.mp4`);
  } finally {
    fs.rmSync(`${tmp}.in.mp4`, { force: true });
    fs.rmSync(`${tmp}.mp4`, { force: true });
  }
}

function getClip(s, b, res) {
  const cs = b.ClipFragmentSelector || {};
  const sel = cs.FragmentSelectorType;
  const tr = cs.TimestampRange || {};
  if (!['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'].includes(sel)) return ERR.invalid(res, `Invalid FragmentSelectorType ${sel}`);
  if (typeof tr.StartTimestamp !== 'number' || typeof tr.EndTimestamp !== 'number') return ERR.invalid(res, 'StartTimestamp and EndTimestamp are required.');
  const start = tr.StartTimestamp * 1000, end = tr.EndTimestamp * 1000;
  if (end <= start || end - start > 86400000) return ERR.invalid(res, 'EndTimestamp must be after StartTimestamp and within 24 hours of it.');
  const ts = (f) => (sel === 'PRODUCER_TIMESTAMP' ? f.producer : f.server);
  const frags = s.complete().filter((f) => ts(f) >= start && ts(f) <= end);
  if (!frags.length) return fail(res, 404, 'ResourceNotFoundException', 'No fragments found in the stream for the clip request.');
  if (frags.length > 200) return fail(res, 400, 'InvalidArgumentException', 'The clip would contain more than 200 fragments.');
  if (frags.some((f) => f.rend !== frags[0].rend))
    return fail(res, 400, 'InvalidCodecPrivateDataException', 'The codec private data changes within the clip range.');
  const r = rends[frags[0].rend];
  // moof + mdat only: a segment's styp and sidx (whose times are not rebased)
  // have no place inside one MP4.
  const body = (f) => { const m = rebaseM4s(r.frags[f.clip].m4s, r.timescale, ts(f) - ts(frags[0]), f.index); return m.subarray(m.indexOf('moof', 0, 'latin1') - 4); };
  const parts = [r.init, ...frags.map(body)];
  frags.forEach((f) => served(s, f));
  return sendMedia(s, res, 'video/mp4', progressive(Buffer.concat(parts)));
}

const SIGNED = { '/describeStream': describeStream, '/getDataEndpoint': getDataEndpoint,
  '/getHLSStreamingSessionURL': getHLSStreamingSessionURL, '/getMedia': getMedia, '/getClip': getClip };
const TPS = { '/describeStream': 5, '/getDataEndpoint': 5, '/getHLSStreamingSessionURL': 5, '/getMedia': 5, '/getClip': 5 };

function control(req, res, url, body) {
  const name = url.searchParams.get('stream');
  if (url.pathname === '/_emulator/stats') {
    const out = {};
    for (const [n, s] of streams) out[n] = { fragments: s.count, applied: s.applied, armed: s.faults, getMediaConnections: s.getMediaConns };
    return send(res, 200, { streams: out, sessions: sessions.size });
  }
  if (url.pathname === '/_emulator/fragments') {
    const s = streams.get(name);
    if (!s) return ERR.notFound(res);
    s.tick();
    return send(res, 200, s.frags.map((f) => ({ number: f.number, index: f.index, producer: f.producer, server: f.server, dur: f.dur, rend: f.rend })));
  }
  if (url.pathname === '/_emulator/served') {
    const s = streams.get(name);
    if (!s) return ERR.notFound(res);
    return send(res, 200, { indices: [...(servedBy.get(s) || [])].sort((a, b) => a - b) });
  }
  if (url.pathname === '/_emulator/fault' && req.method === 'POST') {
    let b;
    try { b = JSON.parse(body.toString() || '{}'); } catch { return ERR.invalid(res, 'bad JSON'); }
    const targets = b.stream ? [streams.get(b.stream)] : [...streams.values()];
    if (targets.some((s) => !s)) return ERR.notFound(res);
    for (const s of targets) {
      if (b.kind in s.faults) s.faults[b.kind] += Number(b.count || 1);
      else if (b.kind === 'stall') s.stall(Number(b.ms || 5000));
      else if (b.kind === 'resolution') s.changeResolution();
      else if (b.kind === 'expire') {
        for (const ss of sessions.values()) if (ss.stream === s) ss.expiresAt = 0;
        s.applied.expire++;
      } else return ERR.invalid(res, `unknown fault ${b.kind}`);
    }
    return send(res, 200, { ok: true });
  }
  return fail(res, 404, 'ResourceNotFoundException', 'unknown emulator control');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://x');
    try {
      if (url.pathname.startsWith('/_emulator/')) return control(req, res, url, body);
      if (req.method === 'GET' && url.pathname.startsWith('/hls/v1/')) return hls(req, res, url);
      const fn = SIGNED[url.pathname];
      if (!fn || req.method !== 'POST') return fail(res, 404, 'UnknownOperationException', `No operation at ${req.method} ${url.pathname}`);
      const v = opts.secret ? await verify(req, body, opts.secret)
        : { ok: /^AWS4-HMAC-SHA256 /.test(req.headers.authorization || ''), service: 'kinesisvideo', why: 'missing signature' };
      if (!v.ok) return fail(res, 403, 'InvalidSignatureException', v.why);
      if (v.service !== 'kinesisvideo') return fail(res, 403, 'InvalidSignatureException', `credential scope names service ${v.service}, not kinesisvideo`);
      recordActions(req, body, v.service); // $KVS_ACTIONS_RECORD: the IAM action of this call
      let b;
      try { b = JSON.parse(body.toString() || '{}'); } catch { return ERR.invalid(res, 'The request body is not valid JSON.'); }
      const s = streamOf(b, res);
      if (!s) return;
      if (!s.allow(url.pathname, TPS[url.pathname])) return ERR.throttled(res);
      if (faulted(s, res)) return;
      await fn(s, b, res);
    } catch (e) {
      console.error(`kvs-emulator: ${req.method} ${url.pathname}: ${e.stack}`);
      if (!res.headersSent) fail(res, 500, 'InternalFailure', String(e.message));
      else res.destroy();
    }
  });
});
server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  endpoint = `http://127.0.0.1:${port}`;
  console.log(JSON.stringify({ kvs_emulator: port, streams: [...streams.keys()], ready: true }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
