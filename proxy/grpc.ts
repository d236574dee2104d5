/**
 * gRPC on the proxy path (gRPC over HTTP/2, https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * which requests are gRPC, the outcome a gRPC call ended with (`grpc-status`, in the trailers or in the
 * headers of a trailers-only response), the `grpc-timeout` deadline, and the answers canaryd makes itself
 * for a gRPC call (an error, an injected abort), which must be trailers-only responses — HTTP 200 with
 * `grpc-status` and `grpc-message` — because gRPC clients read the outcome from there, not from the HTTP
 * status. Pure functions; the Exchange calls them only on gRPC requests, so other traffic pays nothing.
 */

import { GRPC_CODES } from '../core/index.js';

/** Codes are 0..16; a value outside is read as UNKNOWN, as gRPC clients do. */
export const GRPC_CODE_COUNT = GRPC_CODES.length;
export const GRPC_UNKNOWN = 2;
export const GRPC_DEADLINE_EXCEEDED = 4;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_CANCELLED = 1;

/** `content-type: application/grpc`, `application/grpc+proto`, `application/grpc;...` (not grpc-web). */
export function isGrpcContentType(ct: string | string[] | undefined): boolean {
  if (typeof ct !== 'string' || ct.length < 16) return false;
  if (!ct.startsWith('application/grpc')) return false;
  if (ct.length === 16) return true;
  const c = ct.charCodeAt(16);
  return c === 43 /* + */ || c === 59; /* ; */
}

/** A `grpc-status` value as a code 0..16 (anything else: UNKNOWN). */
export function grpcCode(value: string): number {
  const n = value.length === 1 || value.length === 2 ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 0 && n < GRPC_CODE_COUNT ? n : GRPC_UNKNOWN;
}

/** The grpc-status among flat field pairs (Buffers from the upstream, or strings), -1 when absent. */
export function grpcStatusIn(raw: ReadonlyArray<Buffer | string> | null | undefined): number {
  if (!raw) return -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== 11) continue;
    const s = typeof name === 'string' ? name : name.toString('latin1');
    if (s.toLowerCase() === 'grpc-status') return grpcCode(raw[i + 1].toString());
  }
  return -1;
}

/**
 * `grpc-timeout` in ms (PROTOCOL-HTTP2.md: 1-8 ASCII digits and a unit H, M, S, m, u, n), or -1 when absent
 * or malformed (a malformed one is ignored, as grpc-go does, rather than failing the call). Sub-millisecond
 * values round up to 1 ms: a deadline is never shorter than asked.
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number {
  if (typeof value !== 'string' || value.length < 2 || value.length > 9) return -1;
  const digits = value.slice(0, -1);
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const n = Number(digits);
  let ms: number;
  switch (value.charCodeAt(value.length - 1)) {
    case 72 /* H */:
      ms = n * 3_600_000;
      break;
    case 77 /* M */:
      ms = n * 60_000;
      break;
    case 83 /* S */:
      ms = n * 1000;
      break;
    case 109 /* m */:
      ms = n;
      break;
    case 117 /* u */:
      ms = n / 1000;
      break;
    case 110 /* n */:
      ms = n / 1_000_000;
      break;
    default:
      return -1;
  }
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms));
}

/**
 * The code a gRPC client derives from an HTTP status when there is no grpc-status
 * (grpc/doc/http-grpc-status-mapping.md), used for canaryd's own error answers on gRPC calls and for the
 * record of a gRPC call that ended without a status.
 */
export function grpcCodeOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_UNAVAILABLE;
    default:
      return GRPC_UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md): printable ASCII but '%' stays as it is. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8'))
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}

/** The fields of a trailers-only answer canaryd makes itself (HTTP 200, the status in the only HEADERS). */
export function grpcAnswerHeaders(code: number, message: string): Record<string, string> {
  return { 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
}
