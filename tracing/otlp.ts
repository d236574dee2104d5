/**
 * OTLP/HTTP JSON encoding of finished spans: an ExportTraceServiceRequest in the protobuf JSON mapping
 * (opentelemetry-proto, opentelemetry/proto/collector/trace/v1): ids as lowercase hex (OTLP's exception to
 * the mapping's base64), times as Unix-nanosecond strings, int64 values as strings, enums as numbers.
 * Attribute names follow the OpenTelemetry HTTP semantic conventions (v1.26, stable HTTP); canaryd's own
 * are under `canaryd.`. Runs off the request path, once per export batch.
 */
import type { ClientSpan, ServerSpan } from './span.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(v) } });

/** performance.now() milliseconds as Unix nanoseconds, a decimal string (no float rounding past 2^53). */
export function unixNano(ms: number): string {
  const t = performance.timeOrigin + ms;
  const whole = Math.floor(t);
  const ns = Math.min(999_999, Math.round((t - whole) * 1e6));
  return `${whole}${String(ns).padStart(6, '0')}`;
}

/** "host:port" / "[v6]:port" / "host" as server.address and server.port */
function splitAuthority(a: string): [string, number | null] {
  const close = a.lastIndexOf(']');
  const colon = a.lastIndexOf(':');
  if (colon > close && colon > 0) {
    const port = Number(a.slice(colon + 1));
    return [a.slice(0, colon).replace(/^\[|\]$/g, ''), Number.isInteger(port) ? port : null];
  }
  return [a.replace(/^\[|\]$/g, ''), null];
}

const origins = new Map<string, [string, number | null]>();
function originParts(origin: string): [string, number | null] {
  let p = origins.get(origin);
  if (p === undefined) {
    try {
      const u = new URL(origin);
      p = [u.hostname.replace(/^\[|\]$/g, ''), u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80];
    } catch {
      p = [origin, null];
    }
    if (origins.size > 64) origins.clear();
    origins.set(origin, p);
  }
  return p;
}

function serverSpan(s: ServerSpan) {
  const attributes: KeyValue[] = [
    str('http.request.method', s.method),
    str('url.path', s.path),
    str('url.scheme', s.scheme),
    str('network.protocol.version', s.protocol),
    str('canaryd.version', s.version),
    str('canaryd.outcome', s.outcome),
    int('canaryd.retries', s.retries),
  ];
  if (s.host) {
    const [address, port] = splitAuthority(s.host);
    attributes.push(str('server.address', address));
    if (port !== null) attributes.push(int('server.port', port));
  }
  if (s.clientAddress) attributes.push(str('client.address', s.clientAddress));
  if (s.outcome !== 'client_abort') attributes.push(int('http.response.status_code', s.status));
  if (s.release) attributes.push(str('canaryd.release', s.release));
  attributes.push(str('canaryd.route', s.rule === null ? 'weight' : 'rule'));
  if (s.rule !== null) attributes.push(str('canaryd.rule', s.rule));
  if (s.fault !== null) attributes.push(str('canaryd.fault', s.fault));
  if (s.error !== null) attributes.push(str('error.type', s.error));
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    ...(s.traceState ? { traceState: s.traceState } : {}),
    name: s.method, // {method} alone: canaryd knows no http.route template (semantic conventions, span name)
    kind: SPAN_KIND_SERVER,
    startTimeUnixNano: unixNano(s.startMs),
    endTimeUnixNano: unixNano(s.endMs),
    attributes,
    status: s.error === null ? { code: STATUS_UNSET } : { code: STATUS_ERROR, message: s.error },
  };
}

function clientSpan(s: ServerSpan, c: ClientSpan) {
  const [address, port] = originParts(c.origin);
  const attributes: KeyValue[] = [
    str('http.request.method', s.method),
    str('server.address', address),
    str('url.path', s.path),
    str('canaryd.version', s.version),
  ];
  if (port !== null) attributes.push(int('server.port', port));
  if (c.status > 0) attributes.push(int('http.response.status_code', c.status));
  if (c.resend > 0) attributes.push(int('http.request.resend_count', c.resend));
  if (s.release) attributes.push(str('canaryd.release', s.release));
  const error = c.error ?? (c.status >= 500 ? String(c.status) : null);
  if (error !== null) attributes.push(str('error.type', error));
  return {
    traceId: s.traceId,
    spanId: c.spanId,
    parentSpanId: s.spanId,
    name: s.method,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: unixNano(c.startMs),
    endTimeUnixNano: unixNano(c.endMs || s.endMs),
    attributes,
    status: error === null ? { code: STATUS_UNSET } : { code: STATUS_ERROR, message: error },
  };
}

export interface Resource {
  serviceName: string;
  serviceVersion: string;
}

/** The request body of one export: every span of `batch` (servers and their attempts) under one resource. */
export function encodeExport(batch: readonly ServerSpan[], resource: Resource): string {
  const spans: object[] = [];
  for (const s of batch) {
    spans.push(serverSpan(s));
    if (s.clients !== null) for (const c of s.clients) spans.push(clientSpan(s, c));
  }
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', resource.serviceName), str('service.version', resource.serviceVersion)] },
        scopeSpans: [{ scope: { name: 'canaryd', version: resource.serviceVersion }, spans }],
      },
    ],
  });
}
