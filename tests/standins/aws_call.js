#!/usr/bin/env node
// Test helper: signed AWS JSON calls with AWS's own signer, and a Kinesis reader.
//   node aws_call.js call ENDPOINT SERVICE TARGET 'JSON'      -> prints the response body
//   node aws_call.js kinesis-dump ENDPOINT STREAM             -> one decoded record per line
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
  : Promise.reject(new Error('usage: aws_call.js call|kinesis-dump ...')))
  .catch((e) => { console.error(e.message); process.exit(1); });
