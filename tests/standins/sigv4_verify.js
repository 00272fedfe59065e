// SigV4 verification with AWS's own signer (@smithy/signature-v4): recomputes
// a request's signature with the known secret. Shared by the signing proxy and
// the KVS emulator.
'use strict';
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

// A presigned URL (query-string auth, S3 style: host the only signed header,
// the payload unsigned), recomputed with the signer's own presign; an
// expired one is refused as S3 refuses it.
async function verifyPresigned(req, secret) {
  const url = new URL(req.url, 'http://placeholder');
  const q = url.searchParams;
  const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q.get('X-Amz-Credential') || '');
  if (!cred) return { ok: false, why: 'malformed X-Amz-Credential' };
  const [, akid, , region, service] = cred;
  const amzDate = q.get('X-Amz-Date') || '', expires = Number(q.get('X-Amz-Expires'));
  if (q.get('X-Amz-SignedHeaders') !== 'host') return { ok: false, service, why: 'only host may be signed' };
  const date = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (!(expires >= 1 && expires <= 604800) || Number.isNaN(date.getTime()))
    return { ok: false, service, why: 'bad X-Amz-Date or X-Amz-Expires' };
  if (Date.now() > date.getTime() + expires * 1000) return { ok: false, service, why: 'request has expired', expired: true };
  const query = {};
  for (const [k, v] of q) if (!k.startsWith('X-Amz-')) query[k] = v;
  const signer = new SignatureV4({
    credentials: { accessKeyId: akid, secretAccessKey: secret, sessionToken: q.get('X-Amz-Security-Token') || undefined },
    region, service, sha256: Sha256, uriEscapePath: service !== 's3', applyChecksum: false,
  });
  const host = req.headers.host || '';
  const skip = new Set(['x-amz-content-sha256']);
  const signed = await signer.presign({
    method: req.method, protocol: 'http:', hostname: host.split(':')[0], port: Number(host.split(':')[1]) || undefined,
    path: url.pathname, query, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  }, { signingDate: date, expiresIn: expires, unsignableHeaders: skip, unhoistableHeaders: skip });
  return signed.query['X-Amz-Signature'] === q.get('X-Amz-Signature')
    ? { ok: true, service, presigned: true } : { ok: false, service, why: `presigned signature mismatch for ${req.method} ${req.url}` };
}

async function verify(req, body, secret) {
  if (/[?&]X-Amz-Signature=/.test(req.url) && !req.headers.authorization) return verifyPresigned(req, secret);
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, why: 'missing or malformed Authorization header' };
  const [, akid, , region, service, signedHeaders, signature] = m;
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate) return { ok: false, why: 'missing X-Amz-Date', service };
  const headers = {};
  for (const h of signedHeaders.split(';')) {
    if (req.headers[h] === undefined) return { ok: false, why: `signed header ${h} not sent`, service };
    headers[h] = Array.isArray(req.headers[h]) ? req.headers[h].join(',') : req.headers[h];
  }
  const url = new URL(req.url, 'http://placeholder');
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : [].concat(query[k], v);
  const signer = new SignatureV4({
    credentials: { accessKeyId: akid, secretAccessKey: secret, sessionToken: req.headers['x-amz-security-token'] },
    region, service, sha256: Sha256, uriEscapePath: service !== 's3', applyChecksum: false,
  });
  const date = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  const signed = await signer.sign({
    method: req.method, protocol: 'http:', hostname: (headers.host || '').split(':')[0],
    port: Number((headers.host || '').split(':')[1]) || undefined,
    path: url.pathname, query, headers: { ...headers }, body,
  }, { signingDate: date, unsignableHeaders: new Set(), signableHeaders: new Set(Object.keys(headers)) });
  const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
  return expected === signature ? { ok: true, service } : { ok: false, service, why: `signature mismatch for ${req.method} ${req.url}` };
}

module.exports = { verify };
