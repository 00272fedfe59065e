#!/usr/bin/env node
// A stand-in for SNS Publish (Query protocol, XML answers) and EventBridge
// PutEvents (JSON 1.1) on 127.0.0.1, meant to sit behind sigv4_proxy.js. It
// checks requests the way the services do, answers like them, and appends
// every request with what became of it to a JSON-lines record for the test
// to check against botocore's serialisation.
//   node alerts_standin.js --port P --record FILE [--topics ARN,...] [--buses NAME,...]
//        [--partial 0.2]              (PutEvents: that share of entries fail, InternalFailure / ThrottlingException)
//        [--storm-at N --storm-len M] (requests N..N+M-1 answer 5xx: an outage)
//        [--seed S]
// FIFO topics: MessageGroupId required; a MessageDeduplicationId seen in the
// last 5 minutes is accepted and not delivered again, as SNS does.
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) =>
  (v.startsWith('--') ? acc.concat([[v.slice(2), a[i + 1]]]) : acc), []));
const topics = new Set((args.topics || '').split(',').filter(Boolean));
const buses = new Set((args.buses || 'default').split(',').filter(Boolean));
const partial = Number(args.partial || 0);
const stormAt = Number(args['storm-at'] || -1), stormLen = Number(args['storm-len'] || 0);
let seed = Number(args.seed || 1), nreq = 0;
const dedup = new Map(); // dedup id -> time (FIFO topics)
function rand() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
function record(r) { fs.appendFileSync(args.record, JSON.stringify(r) + '\n'); }

function snsError(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`);
  return code;
}
function jsonError(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify({ __type: code, message }));
  return code;
}

// SNS Publish: the checks SNS makes that a publisher can get wrong.
function publish(p, res) {
  if (p.get('Action') !== 'Publish' || p.get('Version') !== '2010-03-31')
    return snsError(res, 400, 'InvalidAction', `unsupported ${p.get('Action')} ${p.get('Version')}`);
  const arn = p.get('TopicArn');
  if (!topics.has(arn)) return snsError(res, 404, 'NotFound', 'Topic does not exist');
  const msg = p.get('Message');
  if (!msg || Buffer.byteLength(msg) > 262144) return snsError(res, 400, 'InvalidParameter', 'Invalid parameter: Message');
  const subj = p.get('Subject');
  if (subj !== null && (subj.length > 100 || !/^[\x20-\x7e]+$/.test(subj)))
    return snsError(res, 400, 'InvalidParameter', 'Invalid parameter: Subject');
  for (let i = 1; p.has(`MessageAttributes.entry.${i}.Name`); i++)
    if (!p.get(`MessageAttributes.entry.${i}.Value.StringValue`) || p.get(`MessageAttributes.entry.${i}.Value.DataType`) !== 'String')
      return snsError(res, 400, 'ParameterValueInvalid', `attribute ${i} has no string value`);
  const fifo = arn.endsWith('.fifo');
  if (fifo !== p.has('MessageGroupId'))
    return snsError(res, 400, 'InvalidParameter', fifo ? 'The MessageGroupId parameter is required for FIFO topics'
      : 'The request includes MessageGroupId parameter that is not valid for this topic type');
  let outcome = 'published';
  if (fifo) {
    const id = p.get('MessageDeduplicationId'), now = Date.now();
    if (!id) return snsError(res, 400, 'InvalidParameter', 'No deduplication id and content-based deduplication is off');
    if (dedup.has(id) && now - dedup.get(id) < 300000) outcome = 'duplicate'; else dedup.set(id, now);
  }
  const seq = fifo ? `<SequenceNumber>${String(nreq).padStart(20, '0')}</SequenceNumber>` : '';
  res.writeHead(200, { 'content-type': 'text/xml' });
  res.end(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${crypto.randomUUID()}</MessageId>${seq}</PublishResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`);
  return outcome;
}

// EventBridge PutEvents: whole-call checks, then each entry on its own.
function putEvents(body, res) {
  let b;
  try { b = JSON.parse(body); } catch (e) { return { outcome: jsonError(res, 400, 'SerializationException', 'bad JSON') }; }
  const entries = b.Entries;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10)
    return { outcome: jsonError(res, 400, 'ValidationException', 'Entries must hold 1 to 10 entries') };
  if (Buffer.byteLength(body) > 262144) return { outcome: jsonError(res, 400, 'ValidationException', 'Total size of the entries in the request is over the limit') };
  const bus = (e) => String(e.EventBusName || 'default').split('/').pop();
  const missing = entries.find((e) => !buses.has(bus(e)));
  if (missing) return { outcome: jsonError(res, 400, 'ResourceNotFoundException', `Event bus ${bus(missing)} does not exist.`) };
  let failed = 0;
  const out = entries.map((e) => {
    if (!e.Source || !e.DetailType || !e.Detail) { failed++; return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter(s) Source, DetailType or Detail missing' }; }
    try { if (typeof JSON.parse(e.Detail) !== 'object') throw new Error(); } catch (x) { failed++; return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' }; }
    if (rand() < partial) {
      failed++;
      return rand() < 0.5 ? { ErrorCode: 'InternalFailure', ErrorMessage: 'injected' } : { ErrorCode: 'ThrottlingException', ErrorMessage: 'injected' };
    }
    return { EventId: crypto.randomUUID() };
  });
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify({ FailedEntryCount: failed, Entries: out }));
  return { outcome: 'answered', accepted: out.map((o) => !!o.EventId) };
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const target = req.headers['x-amz-target'] || '';
    const service = target ? 'events' : 'sns';
    const r = { n: nreq, service, method: req.method, path: req.url, target,
      content_type: req.headers['content-type'] || '', body };
    const storm = nreq >= stormAt && nreq < stormAt + stormLen;
    nreq++;
    if (storm) {
      const status = nreq % 2 ? 500 : 503;
      r.outcome = service === 'sns' ? snsError(res, status, status === 500 ? 'InternalError' : 'ServiceUnavailable', 'injected outage')
        : jsonError(res, status, status === 500 ? 'InternalFailure' : 'ServiceUnavailable', 'injected outage');
    } else if (req.method !== 'POST' || req.url !== '/') {
      r.outcome = jsonError(res, 404, 'UnknownOperationException', `${req.method} ${req.url}`);
    } else if (service === 'sns') {
      r.outcome = publish(new URLSearchParams(body), res);
    } else if (target === 'AWSEvents.PutEvents') {
      Object.assign(r, putEvents(body, res));
    } else {
      r.outcome = jsonError(res, 400, 'UnknownOperationException', target);
    }
    record(r);
  });
}).listen(Number(args.port), '127.0.0.1', () => console.log(JSON.stringify({ alerts: Number(args.port), ready: true })));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
