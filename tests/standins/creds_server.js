#!/usr/bin/env node
// An ECS-style container credentials endpoint that hands out short-lived
// temporary credentials: AccessKeyId ASIA<n>, the given secret, a session token
// that carries its own expiry ("exp-<epoch ms>", checked by sigv4_proxy.js
// --check-token-expiry), Expiration LIFETIME seconds from now.
//   node creds_server.js PORT SECRET LIFETIME_S AUTH_TOKEN
// GET /stats answers {"issued":n}.
'use strict';
const http = require('http');
const [port, secret, lifetime, auth] = process.argv.slice(2);
let issued = 0;
http.createServer((req, res) => {
  if (req.url === '/stats') { res.end(JSON.stringify({ issued })); return; }
  if (req.headers.authorization !== auth) { res.writeHead(401); res.end(); return; }
  const exp = Date.now() + Number(lifetime) * 1000;
  issued++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ AccessKeyId: `ASIA${issued}`, SecretAccessKey: secret,
    Token: `exp-${exp}`, Expiration: new Date(exp).toISOString().replace(/\.\d+Z$/, 'Z') }));
}).listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ creds: Number(port), ready: true })));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
