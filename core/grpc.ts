/**
 * gRPC status codes (grpc/doc/statuscodes.md), shared by the config (grpc.errorCodes, the abort fault's
 * grpcStatus accept a name or a number) and the proxy (which reads and writes them on the wire).
 */
export const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
export type GrpcCodeName = (typeof GRPC_CODES)[number];

/** A code given as a number 0..16 or its name ("UNAVAILABLE"); the schema has checked it is one. */
export function grpcCodeNumber(code: number | string): number {
  return typeof code === 'number' ? code : GRPC_CODES.indexOf(code as GrpcCodeName);
}

/** The default of grpc.errorCodes: the codes that say the server failed, not the caller. */
export const GRPC_SERVER_ERRORS: readonly GrpcCodeName[] = [
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
];

/** A set of codes as a bit mask (codes 0..16 fit in 17 bits), so a per-request test is one shift. */
export function grpcCodeMask(codes: ReadonlyArray<number | string>): number {
  let m = 0;
  for (const c of codes) {
    const n = grpcCodeNumber(c);
    if (n >= 0 && n < GRPC_CODES.length) m |= 1 << n;
  }
  return m;
}

export const GRPC_SERVER_ERROR_MASK = grpcCodeMask(GRPC_SERVER_ERRORS);
