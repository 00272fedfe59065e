#!/usr/bin/env node
// Test helper: signed AWS JSON calls with AWS's own signer, and a Kinesis reader.
//   node aws_call.js call ENDPOINT SERVICE TARGET 'JSON'      -> prints the response body
//   node aws_call.js kinesis-dump ENDPOINT STREAM             -> one decoded record per line
//   node aws_call.js s3-verify ENDPOINT BUCKET LIST            -> objects equal local files
//   node aws_call.js s3-put ENDPOINT BUCKET KEY FILE           -> uploads FILE, prints the ETag
//   node aws_call.js ddb-verify ENDPOINT TABLE IDS EVENTS      -> per event id an item equal to its event (typed), with expires_at
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region us-east-1.
'use strict';
const http = require('http');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

async function call(endpoint, service, target, body) {
  const url = new URL(endpoint);
  const version = service === 'dynamodb' ? '1.0' : '1.1';
  const signer = new SignatureV4({
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
    region: 'us-east-1', service, sha256: Sha256,
  });
  const req = await signer.sign({
    method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
    headers: { host: url.host, 'content-type': `application/x-amz-json-${version}`, 'x-amz-target': target },
    body,
  });
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers: req.headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 300) reject(new Error(`${res.statusCode} ${text}`)); else resolve(text);
      });
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function s3Get(endpoint, bucket, key) {
  const url = new URL(endpoint);
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signer = new SignatureV4({
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
    region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false,
  });
  const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const req = await signer.sign({ method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port),
    path, headers: { host: url.host, 'x-amz-content-sha256': empty } });
  return new Promise((resolve, reject) => {
    http.get({ host: url.hostname, port: url.port, path, headers: req.headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks))
        : reject(new Error(`GET ${path}: ${res.statusCode} ${Buffer.concat(chunks)}`))));
    }).on('error', reject);
  });
}

async function s3Put(endpoint, bucket, key, file) {
  const body = require('fs').readFileSync(file);
  const url = new URL(endpoint);
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signer = new SignatureV4({
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
    region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false,
  });
  const hash = require('crypto').createHash('sha256').update(body).digest('hex');
  const req = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port),
    path, headers: { host: url.host, 'x-amz-content-sha256': hash, 'content-length': String(body.length) }, body });
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: 'PUT', path, headers: req.headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(res.headers.etag)
        : reject(new Error(`PUT ${path}: ${res.statusCode}`))));
    });
    r.on('error', reject);
    r.end(body);
  });
}

// Each line of LIST: "s3-key<TAB>local file"; every object must equal its file byte for byte.
async function s3Verify(endpoint, bucket, list) {
  const fs = require('fs');
  let n = 0;
  for (const line of fs.readFileSync(list, 'utf8').split('\n').filter(Boolean)) {
    const [key, file] = line.split('\t');
    const got = await s3Get(endpoint, bucket, key);
    if (!got.equals(fs.readFileSync(file))) throw new Error(`s3://${bucket}/${key} differs from ${file}`);
    n++;
  }
  console.log(`${n} objects identical`);
}

// A DynamoDB AttributeValue back to plain JSON.
function plain(v) {
  if ('M' in v) return Object.fromEntries(Object.entries(v.M).map(([k, x]) => [k, plain(x)]));
  if ('L' in v) return v.L.map(plain);
  if ('N' in v) return Number(v.N);
  if ('S' in v) return v.S;
  if ('BOOL' in v) return v.BOOL;
  if ('NULL' in v) return null;
  throw new Error(`unexpected attribute ${JSON.stringify(v)}`);
}

// Deep equality with numbers equal to 1e-9 (relative).
function same(a, b, path) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a))) throw new Error(`${path}: ${a} != ${b}`);
    return;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    if (a !== b) throw new Error(`${path}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
    return;
  }
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  if (JSON.stringify(ka) !== JSON.stringify(kb)) throw new Error(`${path}: keys ${ka} != ${kb}`);
  for (const k of ka) same(a[k], b[k], `${path}.${k}`);
}

// Each line of IDS is an event_id: its item must exist, hold every field of
// that event (EVENTS, a JSON-lines file) as typed attributes equal to it, with
// numbers as N, and carry the TTL attribute.
async function ddbVerify(endpoint, table, ids, events) {
  const fs = require('fs');
  const byId = new Map(fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => {
    const e = JSON.parse(l);
    return [e.event_id, e];
  }));
  let n = 0;
  for (const id of fs.readFileSync(ids, 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(await call(endpoint, 'dynamodb', 'DynamoDB_20120810.GetItem',
      JSON.stringify({ TableName: table, Key: { event_id: { S: id } }, ConsistentRead: true })));
    if (!r.Item) throw new Error(`item ${id} missing`);
    if (!r.Item.expires_at || !(Number(r.Item.expires_at.N) > Date.now() / 1000)) throw new Error(`item ${id}: no TTL attribute`);
    if (!('N' in r.Item.confidence) || !('M' in r.Item.bbox) || !('N' in r.Item.bbox.M.x)) throw new Error(`item ${id}: fields are not typed`);
    const item = plain({ M: r.Item });
    delete item.expires_at;
    if (!byId.has(id)) throw new Error(`event ${id} is not in ${events}`);
    same(item, byId.get(id), id);
    n++;
  }
  console.log(`${n} items found, each equal to its event`);
}

async function kinesisDump(endpoint, stream) {
  const k = (op, o) => call(endpoint, 'kinesis', `Kinesis_20131202.${op}`, JSON.stringify(o)).then(JSON.parse);
  const shards = (await k('ListShards', { StreamName: stream })).Shards;
  for (const s of shards) {
    let it = (await k('GetShardIterator', { StreamName: stream, ShardId: s.ShardId, ShardIteratorType: 'TRIM_HORIZON' })).ShardIterator;
    for (let n = 0; it && n < 1000; n++) {
      const r = await k('GetRecords', { ShardIterator: it, Limit: 1000 });
      for (const rec of r.Records) {
        process.stdout.write(JSON.stringify({ partition_key: rec.PartitionKey, data: Buffer.from(rec.Data, 'base64').toString() }) + '\n');
      }
      if (r.Records.length === 0 && r.MillisBehindLatest === 0) break;
      it = r.NextShardIterator;
    }
  }
}

const [cmd, ...a] = process.argv.slice(2);
(cmd === 'call' ? call(a[0], a[1], a[2], a[3]).then((t) => console.log(t))
  : cmd === 'kinesis-dump' ? kinesisDump(a[0], a[1])
  : cmd === 's3-verify' ? s3Verify(a[0], a[1], a[2])
  : cmd === 's3-put' ? s3Put(a[0], a[1], a[2], a[3]).then((t) => console.log(t))
  : cmd === 'ddb-verify' ? ddbVerify(a[0], a[1], a[2], a[3])
  : Promise.reject(new Error('usage: aws_call.js call|kinesis-dump ...')))
  .catch((e) => { console.error(e.message); process.exit(1); });
