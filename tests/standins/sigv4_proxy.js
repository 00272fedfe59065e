#!/usr/bin/env node
// A loopback proxy in front of a stand-in that recomputes every request's
// SigV4 signature with AWS's own signer (@smithy/signature-v4) and the known
// secret, and answers 403 on any mismatch: every integration test through it is
// also a signing test. It can also inject faults for a share of requests.
//   node sigv4_proxy.js --port P --target T --secret S [--throttle 0.2] [--errors 0.1] [--seed N]
//                       [--check-token-expiry]   (tokens "exp-<ms>" from creds_server.js)
//                       [--deny Op1,Op2]         (JSON APIs: AccessDeniedException for those operations)
// Presigned URLs (query-string signing) are checked the same way. With
// $KVS_ACTIONS_RECORD set, the IAM action of every verified request is recorded
// there (actions_record.js).
// GET /__proxy/stats answers {"checked":n,"rejected":n,"throttled":n,"failed":n,"expired":n,"presigned":n}.
'use strict';
const http = require('http');
const { verify } = require('./sigv4_verify');
const { recordActions } = require('./actions_record');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) =>
  (v.startsWith('--') ? acc.concat([[v.slice(2), a[i + 1]]]) : acc), []));
const port = Number(args.port), target = Number(args.target);
const secret = args.secret;
let seed = Number(args.seed || 1);
const throttle = Number(args.throttle || 0), errors = Number(args.errors || 0);
const checkExpiry = 'check-token-expiry' in args;
const denied = new Set((args.deny || '').split(',').filter(Boolean));
const stats = { checked: 0, rejected: 0, throttled: 0, failed: 0, expired: 0, presigned: 0 };
function rand() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }

function fault(res, service, status, code, message) {
  if (service === 'sns') { // the Query protocol answers in XML
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>`);
  } else if (service === 's3') {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  } else {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: code, message }));
  }
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    if (req.url === '/__proxy/stats') { res.end(JSON.stringify(stats)); return; }
    let v;
    try { v = await verify(req, body, secret); } catch (e) { v = { ok: false, why: String(e) }; }
    stats.checked++;
    const service = v.service || 'unknown';
    const token = req.headers['x-amz-security-token'];
    if (v.ok && checkExpiry && token && /^exp-\d+$/.test(token) && Date.now() > Number(token.slice(4))) {
      stats.expired++;
      fault(res, service, 400, 'ExpiredTokenException', 'The security token included in the request is expired');
      return;
    }
    if (v.presigned) stats.presigned++;
    if (!v.ok) {
      stats.rejected++;
      console.error(`sigv4-proxy: 403 ${v.why}`);
      fault(res, service, 403, service === 's3' ? 'SignatureDoesNotMatch' : 'InvalidSignatureException', v.why);
      return;
    }
    recordActions(req, body, service);
    const op = String(req.headers['x-amz-target'] || '').split('.').pop();
    if (denied.has(op)) {
      stats.denied = (stats.denied || 0) + 1;
      fault(res, service, 400, 'AccessDeniedException', `User: arn:aws:iam::123456789012:user/test is not authorized to perform: ${service}:${op}`);
      return;
    }
    const r = rand();
    if (r < throttle) {
      stats.throttled++;
      if (service === 's3') fault(res, service, 503, 'SlowDown', 'Please reduce your request rate.');
      else if (service === 'sns') fault(res, service, 400, 'Throttling', 'Rate exceeded');
      else if (service === 'kinesis') fault(res, service, 400, 'ProvisionedThroughputExceededException', 'Rate exceeded for shard');
      else fault(res, service, 400, 'ThrottlingException', 'Rate of requests exceeds the allowed throughput.');
      return;
    }
    if (r < throttle + errors) {
      stats.failed++;
      fault(res, service, 500, service === 's3' || service === 'sns' ? 'InternalError' : 'InternalFailure', 'injected failure');
      return;
    }
    const fwd = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => fault(res, service, 502, 'ServiceUnavailable', 'stand-in unreachable'));
    fwd.end(body);
  });
}).listen(port, '127.0.0.1', () => console.log(JSON.stringify({ proxy: port, target, ready: true })));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { console.log(JSON.stringify(stats)); process.exit(0); });
