/**
 * upstreamRequestHeaders as a table: client raw headers (Node's flat rawHeaders) and a forward context in,
 * the exact flat array undici sends out (or null: the caller answers 400). RFC 9110 §7.6.1 (hop-by-hop),
 * §7.6.3 (Via), RFC 9112 §3.2 (Host), W3C trace-context §3.3 (traceparent / tracestate).
 */
import t from 'tap';
import { upstreamRequestHeaders } from '../proxy/index.js';

const CTX: { clientIp: string; proto: 'http' | 'https'; requireHost: boolean } = { clientIp: '10.0.0.9', proto: 'http', requireHost: true };
const TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
/** what the tracing stage asks to forward instead (ForwardContext.traceparent) */
const OURS = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00';
/** What canaryd appends to a request that came with only `host: h` and a valid traceparent. */
const tail = (host = 'h') => ['x-forwarded-for', '10.0.0.9', 'x-forwarded-proto', 'http', 'x-forwarded-host', host, 'via', '1.1 canaryd'];

interface Row {
  name: string;
  raw: string[];
  ctx?: Partial<typeof CTX> & { upgrade?: boolean; authority?: string | null; traceparent?: string | null };
  /** the exact output */
  out: string[] | null;
}

const rows: Row[] = [
  {
    name: 'plain fields pass in order, case and repeats kept',
    raw: ['Host', 'h', 'Cookie', 'a=1', 'X-Thing', 'v', 'cookie', 'b=2', 'traceparent', TRACE],
    out: ['Host', 'h', 'Cookie', 'a=1', 'X-Thing', 'v', 'cookie', 'b=2', 'traceparent', TRACE, ...tail()],
  },
  {
    name: 'hop-by-hop fields are dropped, whatever their case',
    raw: [
      'host',
      'h',
      'Connection',
      'keep-alive',
      'KEEP-ALIVE',
      'timeout=5',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'HTTP2-Settings',
      'AAMAAABkAAQCAAAAAAIAAAAA',
      'Proxy-Connection',
      'keep-alive',
      'Proxy-Authorization',
      'Basic x',
      'Proxy-Authenticate',
      'Basic',
      'Trailer',
      'x-sum',
      'Expect',
      '100-continue',
      'traceparent',
      TRACE,
    ],
    out: ['host', 'h', 'traceparent', TRACE, ...tail()],
  },
  {
    name: 'fields the Connection header names are dropped too',
    raw: ['host', 'h', 'Connection', 'X-Secret, close', 'x-secret', 's', 'X-Kept', 'k', 'traceparent', TRACE],
    out: ['host', 'h', 'X-Kept', 'k', 'traceparent', TRACE, ...tail()],
  },
  {
    name: 'an upgrade keeps Connection and Upgrade',
    raw: ['host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'traceparent', TRACE],
    ctx: { upgrade: true },
    out: ['host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'traceparent', TRACE, ...tail()],
  },
  {
    name: 'X-Forwarded-For: repeated fields join, the client address is appended',
    raw: ['host', 'h', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2, 3.3.3.3', 'traceparent', TRACE],
    out: [
      'host',
      'h',
      'traceparent',
      TRACE,
      'x-forwarded-for',
      '1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'h',
      'via',
      '1.1 canaryd',
    ],
  },
  {
    name: 'X-Forwarded-Proto and -Host the client sent are kept, not added again',
    raw: ['host', 'h', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'front.example', 'traceparent', TRACE],
    out: [
      'host',
      'h',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'front.example',
      'traceparent',
      TRACE,
      'x-forwarded-for',
      '10.0.0.9',
      'via',
      '1.1 canaryd',
    ],
  },
  {
    name: 'the listener protocol is the added X-Forwarded-Proto',
    raw: ['host', 'h', 'traceparent', TRACE],
    ctx: { proto: 'https' },
    out: [
      'host',
      'h',
      'traceparent',
      TRACE,
      'x-forwarded-for',
      '10.0.0.9',
      'x-forwarded-proto',
      'https',
      'x-forwarded-host',
      'h',
      'via',
      '1.1 canaryd',
    ],
  },
  {
    name: 'Via: the received chain is kept and ours appended',
    raw: ['host', 'h', 'Via', '1.0 edge', 'via', '1.1 lb', 'traceparent', TRACE],
    out: [
      'host',
      'h',
      'traceparent',
      TRACE,
      'x-forwarded-for',
      '10.0.0.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'h',
      'via',
      '1.0 edge, 1.1 lb, 1.1 canaryd',
    ],
  },
  {
    name: 'an absolute-form target: its authority replaces Host',
    raw: ['Host', 'old.example', 'traceparent', TRACE],
    ctx: { authority: 'new.example:8080' },
    out: ['Host', 'new.example:8080', 'traceparent', TRACE, ...tail('new.example:8080')],
  },
  { name: 'HTTP/1.1 without Host: null (400)', raw: ['x-a', '1'], out: null },
  { name: 'two Host fields: null (400)', raw: ['host', 'a', 'Host', 'b'], out: null },
  { name: 'an invalid Host: null (400)', raw: ['host', 'a b'], out: null },
  { name: 'an invalid Host character: null (400)', raw: ['host', 'a/b'], out: null },
  {
    name: 'HTTP/1.0 may omit Host: no X-Forwarded-Host then',
    raw: ['traceparent', TRACE],
    ctx: { requireHost: false },
    out: ['traceparent', TRACE, 'x-forwarded-for', '10.0.0.9', 'x-forwarded-proto', 'http', 'via', '1.1 canaryd'],
  },
  {
    name: 'HTTP/1.0 without Host, absolute-form: Host is the authority (no X-Forwarded-Host: the client sent none)',
    raw: ['traceparent', TRACE],
    ctx: { requireHost: false, authority: 'a.example' },
    out: ['traceparent', TRACE, 'host', 'a.example', 'x-forwarded-for', '10.0.0.9', 'x-forwarded-proto', 'http', 'via', '1.1 canaryd'],
  },
  {
    name: 'IPv6 literal with a port is a valid Host',
    raw: ['host', '[::1]:8080', 'traceparent', TRACE],
    out: ['host', '[::1]:8080', 'traceparent', TRACE, ...tail('[::1]:8080')],
  },
  { name: 'no traceparent: none is made up (tracing off)', raw: ['host', 'h'], out: ['host', 'h', ...tail()] },
  {
    name: "tracing on: the tracing stage's traceparent replaces a valid one, last, and tracestate stays",
    raw: ['host', 'h', 'traceparent', TRACE, 'tracestate', 'k=v'],
    ctx: { traceparent: OURS },
    out: ['host', 'h', 'tracestate', 'k=v', ...tail(), 'traceparent', OURS],
  },
  {
    name: "tracing on, an invalid traceparent: the tracing stage's goes out, tracestate goes with the invalid one",
    raw: ['host', 'h', 'traceparent', '00-xyz-01', 'tracestate', 'k=v'],
    ctx: { traceparent: OURS },
    out: ['host', 'h', ...tail(), 'traceparent', OURS],
  },
  {
    name: 'a valid traceparent keeps its tracestate',
    raw: ['host', 'h', 'traceparent', TRACE, 'tracestate', 'k=v'],
    out: ['host', 'h', 'traceparent', TRACE, 'tracestate', 'k=v', ...tail()],
  },
  {
    name: 'an invalid traceparent is dropped and its tracestate goes with it',
    raw: ['host', 'h', 'traceparent', '00-xyz-01', 'tracestate', 'k=v'],
    out: ['host', 'h', ...tail()],
  },
  {
    name: 'an all-zero trace id is invalid',
    raw: ['host', 'h', 'traceparent', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    out: ['host', 'h', ...tail()],
  },
  {
    name: 'upper-case hex is invalid',
    raw: ['host', 'h', 'traceparent', TRACE.toUpperCase()],
    out: ['host', 'h', ...tail()],
  },
  {
    name: 'a repeated traceparent: the first valid one is kept',
    raw: ['host', 'h', 'traceparent', TRACE, 'traceparent', '00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    out: ['host', 'h', 'traceparent', TRACE, ...tail()],
  },
];

t.test('upstreamRequestHeaders, row by row', async (t) => {
  for (const row of rows) {
    const got = upstreamRequestHeaders(row.raw, { ...CTX, ...row.ctx });
    if (row.out === null || got === null) {
      t.equal(got, row.out, row.name);
      continue;
    }
    t.same(got, row.out, row.name);
  }
});

t.test('the input array is not modified', async (t) => {
  const raw = ['host', 'h', 'Connection', 'x-a', 'x-a', '1'];
  const copy = [...raw];
  upstreamRequestHeaders(raw, CTX);
  t.same(raw, copy);
});
