/**
 * Trace and span ids (W3C trace-context §3.2.2.3/4: 16 and 8 random bytes, lowercase hex, never all zero),
 * and the parts of a received traceparent the tracer reads. Random bytes are drawn and hex-encoded 4 KiB at
 * a time: an id is then one substring of a pooled string.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let hex = '';
let at = POOL_BYTES * 2; // in hex characters

function isAllZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/** `bytes` random bytes as lowercase hex, never all zero. */
function randomHex(bytes: number): string {
  const n = bytes * 2;
  if (at + n > hex.length) {
    randomFillSync(pool);
    hex = pool.toString('hex');
    at = 0;
  }
  const from = at;
  at += n;
  if (isAllZero(hex, from, at)) return randomHex(bytes); // 2^-64 odds at least; checking costs nothing
  return hex.slice(from, at);
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** The sampled flag of a valid traceparent (trace-flags bit 0, §3.2.2.5): no allocation. */
export function parentSampled(traceparent: string): boolean {
  const c = traceparent.charCodeAt(54); // the flags' second hex digit holds bit 0
  const v = c <= 57 ? c - 48 : c - 87;
  return (v & 1) === 1;
}

/**
 * Trace-id ratio sampling (OpenTelemetry TraceIdRatioBased): the trace id's last 13 hex digits (52 random
 * bits, exact in a double) compared with ratio × 2^52. Deterministic per trace: every tier that uses the
 * same rule on the same id agrees.
 */
export function ratioSampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  let v = 0;
  for (let i = traceId.length - 13; i < traceId.length; i++) {
    const c = traceId.charCodeAt(i);
    v = v * 16 + (c <= 57 ? c - 48 : c - 87);
  }
  return v < ratio * 2 ** 52;
}
