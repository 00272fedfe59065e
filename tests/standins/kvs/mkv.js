// Minimal EBML/Matroska reading (the clip ffmpeg wrote) and writing (fragments
// shaped like the ones KVS GetMedia sends: unknown-size Segment and Cluster,
// KVS tags before and after the Cluster).
'use strict';

const ID = {
  EBML: 0x1a45dfa3, Segment: 0x18538067, Info: 0x1549a966, Tracks: 0x1654ae6b,
  TrackEntry: 0xae, TrackNumber: 0xd7, TrackUID: 0x73c5, TrackType: 0x83, CodecID: 0x86,
  CodecPrivate: 0x63a2, Video: 0xe0, PixelWidth: 0xb0, PixelHeight: 0xba, Cluster: 0x1f43b675,
  Timecode: 0xe7, Position: 0xa7, SimpleBlock: 0xa3, BlockGroup: 0xa0, Block: 0xa1,
  Tags: 0x1254c367, Tag: 0x7373, SimpleTag: 0x67c8, TagName: 0x45a3, TagString: 0x4487,
  TimecodeScale: 0x2ad7b1, Title: 0x7ba9, MuxingApp: 0x4d80, WritingApp: 0x5741,
  SegmentUID: 0x73a4, DefaultDuration: 0x23e383,
};
const MASTERS = new Set([ID.Segment, ID.Tracks, ID.TrackEntry, ID.Video, ID.Cluster,
  ID.BlockGroup, ID.Info, ID.Tags, ID.Tag, ID.SimpleTag]);

function readVint(buf, pos, keepMarker) {
  const first = buf[pos];
  if (first === undefined || first === 0) throw new Error(`bad EBML varint at ${pos}`);
  let len = 1;
  while (!(first & (0x80 >> (len - 1)))) len++;
  let v = keepMarker ? first : first & (0xff >> len);
  let allOnes = (first & (0xff >> len)) === (0xff >> len);
  for (let i = 1; i < len; i++) {
    v = v * 256 + buf[pos + i];
    if (buf[pos + i] !== 0xff) allOnes = false;
  }
  return { value: v, len, unknown: !keepMarker && allOnes };
}

// Walks the clip: codec private data, picture size, and every video frame with
// its time in ms and key flag.
function parseClip(buf) {
  const out = { codecId: '', codecPrivate: null, width: 0, height: 0, frames: [] };
  let scale = 1000000, cluster = 0, videoTrack = 1;
  function walk(start, end) {
    let pos = start;
    while (pos < end) {
      const id = readVint(buf, pos, true); pos += id.len;
      const size = readVint(buf, pos, false); pos += size.len;
      const stop = size.unknown ? end : Math.min(end, pos + size.value);
      const body = buf.subarray(pos, stop);
      switch (id.value) {
        case ID.TimecodeScale: scale = body.readUIntBE(0, body.length); break;
        case ID.CodecID: out.codecId = body.toString(); break;
        case ID.CodecPrivate: out.codecPrivate = Buffer.from(body); break;
        case ID.PixelWidth: out.width = body.readUIntBE(0, body.length); break;
        case ID.PixelHeight: out.height = body.readUIntBE(0, body.length); break;
        case ID.TrackNumber: videoTrack = body.readUIntBE(0, body.length); break;
        case ID.Timecode: cluster = body.readUIntBE(0, body.length); break;
        case ID.SimpleBlock: case ID.Block: {
          const tn = readVint(body, 0, false);
          if (tn.value !== videoTrack) break;
          const rel = body.readInt16BE(tn.len);
          const flags = body[tn.len + 2];
          out.frames.push({
            ms: Math.round((cluster + rel) * scale / 1e6),
            key: id.value === ID.SimpleBlock ? !!(flags & 0x80) : out.frames.length === 0,
            data: Buffer.from(body.subarray(tn.len + 3)),
          });
          break;
        }
        default:
          if (MASTERS.has(id.value)) walk(pos, stop);
      }
      pos = stop;
    }
  }
  walk(0, buf.length);
  if (!out.codecPrivate || !out.frames.length) throw new Error('clip has no video track or frames');
  return out;
}

function vintSize(n) {
  for (let len = 1; len <= 8; len++) if (n < 2 ** (7 * len) - 1) {
    const b = Buffer.alloc(len);
    let v = n;
    for (let i = len - 1; i >= 0; i--) { b[i] = v % 256; v = Math.floor(v / 256); }
    b[0] |= 0x80 >> (len - 1);
    return b;
  }
  throw new Error('element too large');
}
function idBytes(id) {
  const b = []; let v = id;
  while (v > 0) { b.unshift(v & 0xff); v = Math.floor(v / 256); }
  return Buffer.from(b);
}
function uintBytes(v) {
  const b = []; let x = v;
  do { b.unshift(x % 256); x = Math.floor(x / 256); } while (x > 0);
  return Buffer.from(b);
}
function el(id, payload) {
  let body;
  if (Buffer.isBuffer(payload)) body = payload;
  else if (typeof payload === 'string') body = Buffer.from(payload, 'utf8');
  else if (typeof payload === 'number') body = uintBytes(payload);
  else body = Buffer.concat(payload);
  return Buffer.concat([idBytes(id), vintSize(body.length), body]);
}
const UNKNOWN = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
function tags(pairs) {
  return el(ID.Tags, [el(ID.Tag, pairs.map(([n, v]) => el(ID.SimpleTag, [el(ID.TagName, n), el(ID.TagString, v)])))]);
}
function ebmlHeader() {
  return el(ID.EBML, [el(0x4286, 1), el(0x42f7, 1), el(0x42f2, 4), el(0x42f3, 8), el(0x4282, 'matroska'),
    el(0x4287, 2), el(0x4285, 2)]);
}
const secs = (ms) => (ms / 1000).toFixed(3);

// Everything of a fragment before its first frame.
function fragmentHead(track, frag) {
  return Buffer.concat([
    ebmlHeader(), idBytes(ID.Segment), UNKNOWN,
    el(ID.Info, [el(ID.SegmentUID, Buffer.alloc(16, 7)), el(ID.TimecodeScale, 1000000),
      el(ID.Title, 'Kinesis Video SDK'), el(ID.MuxingApp, 'kvs-emulator'), el(ID.WritingApp, 'kvs-emulator')]),
    el(ID.Tracks, [el(ID.TrackEntry, [el(ID.TrackNumber, 1), el(ID.TrackUID, 1), el(ID.TrackType, 1),
      el(ID.CodecID, 'V_MPEG4/ISO/AVC'), el(ID.CodecPrivate, track.codecPrivate),
      el(ID.Video, [el(ID.PixelWidth, track.width), el(ID.PixelHeight, track.height)])])]),
    tags([['AWS_KINESISVIDEO_FRAGMENT_NUMBER', frag.number],
      ['AWS_KINESISVIDEO_SERVER_TIMESTAMP', secs(frag.server)],
      ['AWS_KINESISVIDEO_PRODUCER_TIMESTAMP', secs(frag.producer)]]),
    idBytes(ID.Cluster), UNKNOWN, el(ID.Timecode, frag.producer), el(ID.Position, 0),
  ]);
}
function simpleBlock(relMs, key, data) {
  const h = Buffer.alloc(4);
  h[0] = 0x81; h.writeInt16BE(relMs, 1); h[3] = key ? 0x80 : 0;
  return el(ID.SimpleBlock, Buffer.concat([h, data]));
}
function fragmentTail(frag, millisBehind) {
  return tags([['AWS_KINESISVIDEO_MILLIS_BEHIND_NOW', String(millisBehind)],
    ['AWS_KINESISVIDEO_CONTINUATION_TOKEN', frag.number]]);
}
// The fragment KVS sends before closing the connection on an error.
function errorFragment(frag, code, id) {
  return Buffer.concat([ebmlHeader(), idBytes(ID.Segment), UNKNOWN,
    tags([['AWS_KINESISVIDEO_FRAGMENT_NUMBER', frag ? frag.number : '0'],
      ['AWS_KINESISVIDEO_ERROR_CODE', String(code)], ['AWS_KINESISVIDEO_ERROR_ID', String(id)]])]);
}

module.exports = { parseClip, fragmentHead, simpleBlock, fragmentTail, errorFragment };
