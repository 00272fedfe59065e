// SigV4 verification with AWS's own signer (@smithy/signature-v4): recomputes
// a request's signature with the known secret. Shared by the signing proxy and
// the KVS emulator.
'use strict';
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

async function verify(req, body, secret) {
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
