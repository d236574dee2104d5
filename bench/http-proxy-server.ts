/**
 * The node `http-proxy` comparison point, run as its own process (so it can be pinned and measured like the
 * others): one node:http server forwarding everything to the target through a keep-alive agent — the way a
 * careful user deploys it (the default agent opens a connection per request). Prints "listening PORT".
 * usage: node dist/bench/http-proxy-server.js TARGET_URL
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const target = process.argv[2];
if (!target) {
  console.error('usage: http-proxy-server.js TARGET_URL');
  process.exit(2);
}
const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  const r = res as import('node:http').ServerResponse;
  if (!r.headersSent) r.writeHead(502);
  r.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
