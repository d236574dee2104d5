/**
 * The floor canaryd is built on, as a bench reference: a node:http server that forwards every request
 * through one undici Pool with the dispatch API and streams the answer back — no routing, no header
 * rewriting beyond what HTTP requires, no metrics, no logs. The gap between this and canaryd is what
 * canaryd's features cost. Prints "listening PORT".
 * usage: node dist/bench/bare-undici-server.js TARGET_URL
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const target = process.argv[2];
if (!target) {
  console.error('usage: bare-undici-server.js TARGET_URL');
  process.exit(2);
}
const origin = new URL(target).origin;
const pool = new Pool(origin, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'expect', 'trailer']);

class Forward implements Dispatcher.DispatchHandler {
  #res: ServerResponse;
  constructor(res: ServerResponse) {
    this.#res = res;
  }
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[], _resume: () => void, text: string): boolean {
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toString('latin1');
      if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString('latin1'));
    }
    this.#res.writeHead(status, text, out);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }
  onComplete(): void {
    this.#res.end();
  }
  onError(): void {
    if (!this.#res.headersSent) this.#res.writeHead(502);
    this.#res.end();
  }
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch(
    { origin, path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers, body: hasBody ? req : null },
    new Forward(res),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
