/**
 * Header-controlled faults, after Envoy's x-envoy-fault-* headers: a client asks for its own fault with
 * x-canaryd-fault-* request headers. Off unless faults.allowHeaderControl; when on, every x-canaryd-fault-*
 * header is stripped before forwarding (the app never sees them) and the faults go through the same gates
 * as rules (master switch, kill switch, auto-disable, maxActive, metrics with rule="header").
 *
 *   x-canaryd-fault-abort-request: <status 200..599>        (-percentage: 0..100, default 100)
 *   x-canaryd-fault-delay-request: <ms>, at most faults.maxHeaderDelay   (-percentage)
 *   x-canaryd-fault-throughput-response: <KiB/s>, as Envoy's  (-percentage)
 *   x-canaryd-fault-reset: before-headers | after-headers   (-percentage)
 *   x-canaryd-fault-dependency: <name>[=error|timeout|slow]  (-percentage)
 * Invalid values are ignored, as Envoy does. The outcome faults are tried in the order abort, reset,
 * throughput, and only when no rule already chose an outcome for the request.
 */
import type { IncomingMessage } from 'node:http';
import { ownHeaderFirst } from '../../core/index.js';
import { DEPENDENCY_FAULT_HEADER } from './kinds/request.js';
import { faultKind, type FaultKindRegistry } from './registry.js';
import type { FaultParams, FaultTypeName } from './settings.js';
import type { CompiledFault } from './types.js';

export const FAULT_HEADER_PREFIX = 'x-canaryd-fault-';
export const FAULT_HEADERS = {
  abort: 'x-canaryd-fault-abort-request',
  delay: 'x-canaryd-fault-delay-request',
  throughput: 'x-canaryd-fault-throughput-response',
  reset: 'x-canaryd-fault-reset',
  dependency: 'x-canaryd-fault-dependency',
} as const;
export const HEADER_RULE = 'header';

const PREFIX_LEN = FAULT_HEADER_PREFIX.length;

/** Case-insensitive prefix test without allocating (most header names are shorter or differ early). */
function isFaultHeader(name: string): boolean {
  if (name.length <= PREFIX_LEN) return false;
  for (let i = 0; i < PREFIX_LEN; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== FAULT_HEADER_PREFIX.charCodeAt(i)) return false;
  }
  return true;
}

/** Removes every x-canaryd-fault-* field from what will be forwarded; true when there was one. */
export function stripFaultHeaders(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  let found = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (isFaultHeader(raw[i])) {
      found = true;
      break;
    }
  }
  if (!found) return false;
  // req.headers was built before (routing read it); rawHeaders is what forwarding copies from
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!isFaultHeader(raw[i])) kept.push(raw[i], raw[i + 1]);
  req.rawHeaders = kept;
  return true;
}

function header(req: IncomingMessage, name: string): string | undefined {
  return ownHeaderFirst(req.headers, name);
}

function intOf(s: string | undefined): number | null {
  if (s === undefined || !/^\s*\d{1,10}\s*$/.test(s)) return null;
  return Number(s);
}

/** The -percentage header as a 0..1 chance (default 1); null when malformed. */
function chanceOf(req: IncomingMessage, name: string): number | null {
  const s = header(req, `${name}-percentage`);
  if (s === undefined) return 1;
  const n = Number(s.trim());
  return s.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 100 ? n / 100 : null;
}

export interface HeaderFaultContext {
  kinds: FaultKindRegistry;
  maxDelayMs: number;
  random(): number;
  counter(type: string): () => void;
}

export interface HeaderPlan {
  before: CompiledFault[] | null;
  outcome: CompiledFault | null;
}

function compiled<T extends FaultTypeName>(ctx: HeaderFaultContext, type: T, params: FaultParams[T]): CompiledFault {
  const kind = faultKind(ctx.kinds, type);
  return {
    name: HEADER_RULE,
    type,
    kind,
    action: kind.compile(params),
    stage: kind.stage,
    probability: 1,
    version: null,
    test: null,
    count: ctx.counter(type),
  };
}

function rolls(ctx: HeaderFaultContext, req: IncomingMessage, name: string): boolean {
  const p = chanceOf(req, name);
  return p !== null && ctx.random() < p;
}

/** Faults asked for by the request's headers (read before they are stripped). `outcomeTaken`: a rule already chose one. */
export function headerFaults(req: IncomingMessage, ctx: HeaderFaultContext, outcomeTaken: boolean): HeaderPlan {
  let before: CompiledFault[] | null = null;
  let outcome: CompiledFault | null = null;
  const delay = intOf(header(req, FAULT_HEADERS.delay));
  if (delay !== null && rolls(ctx, req, FAULT_HEADERS.delay))
    (before ??= []).push(compiled(ctx, 'delay', { ms: Math.min(delay, ctx.maxDelayMs) }));
  const dep = header(req, FAULT_HEADERS.dependency);
  if (dep !== undefined) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:=(error|timeout|slow))?\s*$/.exec(dep);
    if (m && rolls(ctx, req, FAULT_HEADERS.dependency))
      (before ??= []).push(
        compiled(ctx, 'dependency', {
          name: m[1],
          mode: m[2] === 'timeout' || m[2] === 'slow' ? m[2] : 'error',
          header: DEPENDENCY_FAULT_HEADER,
        }),
      );
  }
  if (!outcomeTaken) {
    const status = intOf(header(req, FAULT_HEADERS.abort));
    if (status !== null && status >= 200 && status < 600 && rolls(ctx, req, FAULT_HEADERS.abort))
      outcome = compiled(ctx, 'abort', { status });
    const reset = header(req, FAULT_HEADERS.reset)?.trim().toLowerCase();
    if (outcome === null && (reset === 'before-headers' || reset === 'after-headers') && rolls(ctx, req, FAULT_HEADERS.reset))
      outcome = compiled(ctx, 'reset', { afterHeaders: reset === 'after-headers' });
    const kib = intOf(header(req, FAULT_HEADERS.throughput));
    if (outcome === null && kib !== null && kib > 0 && rolls(ctx, req, FAULT_HEADERS.throughput))
      outcome = compiled(ctx, 'throttle', { bytesPerSecond: kib * 1024 });
  }
  return { before, outcome };
}
