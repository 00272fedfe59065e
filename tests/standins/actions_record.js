// The IAM action each correctly signed request needs, appended as a JSON line
// to the file named by $KVS_ACTIONS_RECORD (nothing when unset). The signing
// proxy and the KVS emulator call it once a signature checks out, so a test
// can derive the permissions kvs-infer needs from what it really sent, not
// from a hand-kept list (tests/integration/it_iam_actions.sh).
// S3 checks SSE-KMS against the caller's KMS permissions: a PUT asking for
// aws:kms needs kms:GenerateDataKey, and a GET of such an object kms:Decrypt,
// so those are recorded beside the S3 action.
'use strict';
const fs = require('fs');

const file = process.env.KVS_ACTIONS_RECORD || '';
const kmsObjects = new Set(); // bucket/key written with SSE-KMS through this process

function s3Action(req, url) {
  // Path style (the tests set s3_force_path_style): /bucket[/key]
  const [bucket, ...rest] = url.pathname.slice(1).split('/');
  const key = decodeURIComponent(rest.join('/'));
  const object = `${bucket}/${key}`;
  const out = [];
  if (!key) out.push({ action: req.method === 'GET' ? 's3:ListBucket' : `s3:${req.method}Bucket`, resource: bucket });
  else if (req.method === 'PUT' || (req.method === 'POST' && url.searchParams.has('uploads'))) {
    out.push({ action: 's3:PutObject', resource: object });
    if (req.headers['x-amz-server-side-encryption'] === 'aws:kms') {
      kmsObjects.add(object);
      out.push({ action: 'kms:GenerateDataKey', resource: req.headers['x-amz-server-side-encryption-aws-kms-key-id'] || 'aws/s3', via: 's3:PutObject' });
    }
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    out.push({ action: 's3:GetObject', resource: object });
    if (kmsObjects.has(object)) out.push({ action: 'kms:Decrypt', resource: 'key of ' + object, via: 's3:GetObject' });
  } else if (req.method === 'DELETE') out.push({ action: 's3:DeleteObject', resource: object });
  else out.push({ action: `s3:${req.method}`, resource: object });
  return out;
}

function jsonResource(body) {
  try {
    const b = JSON.parse(body.toString() || '{}');
    return b.TableName || b.StreamName || b.StreamARN || (b.Entries && b.Entries[0] && b.Entries[0].EventBusName) || '';
  } catch { return ''; }
}

// The actions of one verified request: [{action, resource[, via]}].
function actionsOf(req, body, service) {
  const url = new URL(req.url, 'http://x');
  const target = req.headers['x-amz-target'];
  if (service === 's3') return s3Action(req, url);
  if (target) return [{ action: `${service}:${String(target).split('.').pop()}`, resource: jsonResource(body) }];
  if (service === 'sns' || service === 'sts') { // the Query protocol: Action in the form
    const form = new URLSearchParams(req.method === 'GET' ? url.search : body.toString());
    return [{ action: `${service}:${form.get('Action')}`, resource: form.get('TopicArn') || '' }];
  }
  if (service === 'kinesisvideo') { // REST-JSON: the operation is the path
    const op = url.pathname.slice(1);
    return [{ action: `kinesisvideo:${op[0].toUpperCase()}${op.slice(1)}`, resource: jsonResource(body) }];
  }
  return [{ action: `${service}:?${req.method} ${url.pathname}`, resource: '' }];
}

function recordActions(req, body, service) {
  if (!file) return;
  const lines = actionsOf(req, body, service).map((a) => JSON.stringify(a) + '\n').join('');
  fs.appendFileSync(file, lines);
}

module.exports = { recordActions, actionsOf };
