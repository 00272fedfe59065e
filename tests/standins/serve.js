#!/usr/bin/env node
// Starts one AWS stand-in on 127.0.0.1 only (kinesalite has no --host option).
//   node serve.js kinesis|dynamodb|s3 PORT [DATA_DIR] [BUCKET...]
'use strict';
const [kind, portArg, dir, ...buckets] = process.argv.slice(2);
const port = Number(portArg);
function ready() { console.log(JSON.stringify({ kind, port, ready: true })); }
if (kind === 'kinesis') {
  require('kinesalite')({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 50 })
    .listen(port, '127.0.0.1', ready);
} else if (kind === 'dynamodb') {
  require('dynalite')({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
    .listen(port, '127.0.0.1', ready);
} else if (kind === 's3') {
  const S3rver = require('s3rver');
  new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir,
               configureBuckets: buckets.map((name) => ({ name })) })
    .run().then(ready, (e) => { console.error(e); process.exit(1); });
} else {
  console.error('usage: serve.js kinesis|dynamodb|s3 PORT [DIR] [BUCKET...]');
  process.exit(2);
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
