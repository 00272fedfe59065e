// Prepares the footage a stream serves: the input (a video file, or "testsrc"
// for a generated scene) encoded once to H.264 with one GOP per fragment, then
// remuxed without re-encoding to fMP4 fragments, MPEG-TS fragments and one MKV,
// so fragment k is the same GOP in every container. Two renditions (full and
// half size) back the resolution-change fault. Results are cached in workDir.
// B-frames only when asked (bframes: the encoder's -bf): then packets come in
// decode order and a picture's time differs from its packet's.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const { parseClip } = require('./mkv');

function ffmpeg(args) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function prepareRendition(input, dir, scale, fps, fragMs, seconds, bframes) {
  fs.mkdirSync(dir, { recursive: true });
  const src = input === 'testsrc'
    ? ['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${fps}:duration=${seconds || 60}`]
    : ['-i', input, ...(seconds ? ['-t', String(seconds)] : [])];
  const gop = Math.max(1, Math.round(fps * fragMs / 1000));
  const enc = path.join(dir, 'enc.mp4');
  ffmpeg([...src, '-an', '-vf', `scale=iw*${scale}:ih*${scale},fps=${fps}`, '-c:v', 'libx264', '-preset', 'veryfast',
    '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-bf', String(bframes || 0), enc]);
  const hls = (type, ext) => ffmpeg(['-i', enc, '-c', 'copy', '-f', 'hls', '-hls_time', String(fragMs / 1000),
    '-hls_list_size', '0', '-hls_segment_type', type, ...(type === 'fmp4' ? ['-hls_fmp4_init_filename', 'init.mp4'] : []),
    '-hls_segment_filename', path.join(dir, `seg%05d.${ext}`), path.join(dir, `${ext}.m3u8`)]);
  hls('fmp4', 'm4s');
  hls('mpegts', 'ts');
  ffmpeg(['-i', enc, '-c', 'copy', path.join(dir, 'clip.mkv')]);
}

function box(buf, type, from = 0, to = buf.length) {
  for (let p = from; p + 8 <= to;) {
    const size = buf.readUInt32BE(p);
    if (buf.toString('latin1', p + 4, p + 8) === type) return { start: p, size };
    if (size < 8) break;
    p += size;
  }
  return null;
}

function loadRendition(dir) {
  const clip = parseClip(fs.readFileSync(path.join(dir, 'clip.mkv')));
  const init = fs.readFileSync(path.join(dir, 'init.mp4'));
  const moov = box(init, 'moov');
  const mdhd = init.indexOf('mdhd', moov.start, 'latin1');
  const timescale = init[mdhd + 4] === 1 ? init.readUInt32BE(mdhd + 24) : init.readUInt32BE(mdhd + 16);
  const frags = [];
  let cur = null;
  for (const f of clip.frames) {
    if (f.key || !cur) { cur = { startMs: f.ms, frames: [] }; frags.push(cur); }
    cur.frames.push({ off: f.ms - cur.startMs, key: f.key, data: f.data });
  }
  const frameMs = clip.frames.length > 1 ? clip.frames[1].ms - clip.frames[0].ms : 100;
  frags.forEach((g, i) => {
    g.durMs = i + 1 < frags.length ? frags[i + 1].startMs - g.startMs : g.frames[g.frames.length - 1].off + frameMs;
    const n = String(i).padStart(5, '0');
    g.m4s = fs.readFileSync(path.join(dir, `seg${n}.m4s`));
    g.ts = fs.readFileSync(path.join(dir, `seg${n}.ts`));
  });
  if (fs.existsSync(path.join(dir, `seg${String(frags.length).padStart(5, '0')}.m4s`)))
    throw new Error(`${dir}: fragments and GOPs do not line up`);
  const avc = clip.codecPrivate;
  const codecs = `avc1.${avc.subarray(1, 4).toString('hex')}`;
  return { track: clip, init, timescale, frags, codecs, width: clip.width, height: clip.height, fps: 1000 / frameMs };
}

// Emulators of tests running side by side (ctest -j) share the cache: each
// prepares into a folder of its own and renames it into place, so a folder
// under its final name is always complete; the loser of a race drops its copy.
function prepareOnce(dir, make) {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  make(tmp);
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    if (!fs.existsSync(dir)) throw e;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function prepare(input, workDir, opts) {
  const key = crypto.createHash('sha256').update(JSON.stringify([input, fs.existsSync(input) ? fs.statSync(input).size : 0, opts])).digest('hex').slice(0, 16);
  // (media-v2-: folders of the emulator before prepareOnce may be half made)
  const base = path.join(workDir, `media-v2-${key}`);
  const rends = [];
  [1, 0.5].forEach((scale, r) => {
    const dir = path.join(base, `r${r}`);
    if (!fs.existsSync(path.join(dir, 'clip.mkv'))) prepareOnce(dir, (tmp) => prepareRendition(input, tmp, scale, opts.fps, opts.fragMs, opts.seconds, opts.bframes));
    rends.push(loadRendition(dir));
  });
  if (rends[0].frags.length !== rends[1].frags.length) throw new Error('renditions differ in fragment count');
  return rends;
}

// fMP4: the fragment's decode time becomes the producer time (tfdt, 64 bit as
// FFmpeg writes it) and its sequence number the fragment index.
function rebaseM4s(seg, timescale, producerMs, seq) {
  const out = Buffer.from(seg);
  const moof = box(out, 'moof');
  if (!moof) throw new Error('fragment without moof');
  const mfhd = out.indexOf('mfhd', moof.start, 'latin1');
  if (mfhd > 0) out.writeUInt32BE(seq >>> 0, mfhd + 8);
  for (let p = out.indexOf('tfdt', moof.start, 'latin1'); p > 0 && p < moof.start + moof.size;
    p = out.indexOf('tfdt', p + 4, 'latin1')) {
    const t = BigInt(Math.round(producerMs)) * BigInt(timescale) / 1000n;
    if (out[p + 4] === 1) out.writeBigUInt64BE(t, p + 8);
    else out.writeUInt32BE(Number(t & 0xffffffffn), p + 8);
  }
  return out;
}

// MPEG-TS: PTS, DTS and PCR shifted so the fragment starts at the producer
// time (90 kHz, modulo 2^33 as the format wraps).
function rebaseTs(seg, producerMs) {
  const out = Buffer.from(seg);
  const WRAP = 1n << 33n;
  let first = null;
  const readTs = (p) => (BigInt(out[p] & 0x0e) << 29n) | (BigInt(out[p + 1]) << 22n) | (BigInt(out[p + 2] & 0xfe) << 14n)
    | (BigInt(out[p + 3]) << 7n) | (BigInt(out[p + 4]) >> 1n);
  const writeTs = (p, v, prefix) => {
    out[p] = prefix | Number((v >> 29n) & 0x0en) | 1; out[p + 1] = Number((v >> 22n) & 0xffn);
    out[p + 2] = Number((v >> 14n) & 0xfen) | 1; out[p + 3] = Number((v >> 7n) & 0xffn);
    out[p + 4] = Number((v << 1n) & 0xfen) | 1;
  };
  const target = BigInt(Math.round(producerMs)) * 90n % WRAP;
  for (let pass = 0; pass < 2; pass++) {
    for (let p = 0; p + 188 <= out.length; p += 188) {
      if (out[p] !== 0x47) continue;
      const pusi = out[p + 1] & 0x40, afc = (out[p + 3] >> 4) & 3;
      let q = p + 4;
      if (afc & 2) {
        const alen = out[q];
        if (pass === 1 && alen >= 7 && (out[q + 1] & 0x10) && first !== null) {
          const base = (BigInt(out[q + 2]) << 25n) | (BigInt(out[q + 3]) << 17n) | (BigInt(out[q + 4]) << 9n)
            | (BigInt(out[q + 5]) << 1n) | BigInt(out[q + 6] >> 7);
          const v = ((base - first + target) % WRAP + WRAP) % WRAP;
          out[q + 2] = Number(v >> 25n) & 0xff; out[q + 3] = Number(v >> 17n) & 0xff;
          out[q + 4] = Number(v >> 9n) & 0xff; out[q + 5] = Number(v >> 1n) & 0xff;
          out[q + 6] = (out[q + 6] & 0x7f) | (Number(v & 1n) << 7);
        }
        q += 1 + alen;
      }
      if (!pusi || !(afc & 1) || out[q] !== 0 || out[q + 1] !== 0 || out[q + 2] !== 1) continue;
      const sid = out[q + 3];
      if (!((sid >= 0xe0 && sid <= 0xef) || (sid >= 0xc0 && sid <= 0xdf))) continue;
      const flags = out[q + 7] >> 6;
      if (!(flags & 2)) continue;
      const pts = readTs(q + 9);
      if (pass === 0) { if (first === null || pts < first) first = pts; continue; }
      writeTs(q + 9, ((pts - first + target) % WRAP + WRAP) % WRAP, flags === 3 ? 0x30 : 0x20);
      if (flags === 3) writeTs(q + 14, ((readTs(q + 14) - first + target) % WRAP + WRAP) % WRAP, 0x10);
    }
  }
  return out;
}

module.exports = { prepare, rebaseM4s, rebaseTs };
