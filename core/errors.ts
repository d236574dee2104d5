/**
 * The one error type of canaryd. Callers branch on `code`, never on message text. Each code has the HTTP
 * status it maps to where one applies. docs/errors.md lists the same codes; a test keeps the two in sync.
 */

export const ERROR_CODES = {
  CANARYD_ERR_CONFIG_INVALID: { status: 400, summary: 'The configuration failed validation; every problem is listed with its key path.' },
  CANARYD_ERR_CONFIG_READ: { status: 500, summary: 'The configuration file could not be read or parsed as YAML.' },
  CANARYD_ERR_CONFIG_ENV: { status: 400, summary: 'A ${VAR} in the configuration names an unset environment variable.' },
  CANARYD_ERR_BAD_REQUEST: { status: 400, summary: 'The client request was malformed and was not forwarded.' },
  CANARYD_ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    summary: 'The method cannot be proxied (CONNECT: canaryd is a reverse proxy, not a tunnel).',
  },
  CANARYD_ERR_UPSTREAM_REFUSED: { status: 502, summary: 'The upstream refused the connection or could not be reached.' },
  CANARYD_ERR_UPSTREAM_RESET: { status: 502, summary: 'The upstream closed or reset the connection before answering in full.' },
  CANARYD_ERR_UPSTREAM_TIMEOUT: { status: 504, summary: 'The upstream did not connect, answer or finish its body in time.' },
  CANARYD_ERR_UPSTREAM_UNAVAILABLE: { status: 503, summary: 'No upstream is available for the chosen version.' },
  CANARYD_ERR_SHUTTING_DOWN: {
    status: 503,
    summary: 'canaryd is draining and accepts no new requests, or cut the request at shutdown.drainTimeout.',
  },
  CANARYD_ERR_UPSTREAM_PROTOCOL: {
    status: 502,
    summary: 'The upstream answered an upgrade with 101 for a protocol the client did not ask for.',
  },
  CANARYD_ERR_DEADLINE: {
    status: 504,
    summary:
      'The request did not complete within timeouts.request (a gRPC call: its grpc-timeout, answered as DEADLINE_EXCEEDED), counted from its arrival (time queued included).',
  },
  CANARYD_ERR_QUEUE_FULL: {
    status: 503,
    summary: "Every connection of the chosen version's upstream is busy and limits.queue.size requests wait already.",
  },
  CANARYD_ERR_QUEUE_TIMEOUT: { status: 503, summary: 'The request waited limits.queue.timeout for a connection of the chosen upstream.' },
  CANARYD_ERR_CLIENT_TIMEOUT: {
    status: 408,
    summary: 'The client sent its request body too slowly (timeouts.clientBody idle, limits.minBodyRate).',
  },
  CANARYD_ERR_CLIENT_LIMIT: { status: 429, summary: 'The client has limits.perClient.inflight requests in flight already.' },
  CANARYD_ERR_UNAUTHORIZED: { status: 401, summary: 'The admin token is missing or wrong.' },
  CANARYD_ERR_FORBIDDEN: { status: 403, summary: 'The admin request is not allowed in the current state.' },
  CANARYD_ERR_AUTH_REQUIRED: {
    status: 403,
    summary:
      'A mutating admin call with no admin token configured (set admin.token or admin.tokenFile, or admin.allowUnauthenticated on loopback).',
  },
  CANARYD_ERR_HOST_NOT_ALLOWED: {
    status: 421,
    summary: 'The admin request addressed a Host that is not in admin.allowedHosts (DNS rebinding protection).',
  },
  CANARYD_ERR_NOT_FOUND: { status: 404, summary: 'The named admin resource does not exist.' },
  CANARYD_ERR_CONFLICT: { status: 409, summary: 'The action does not fit the current state (e.g. promoting an idle rollout).' },
  CANARYD_ERR_GATE_REFUSED: { status: 409, summary: 'A rollout webhook gate (pre-rollout, confirm-promotion) did not approve.' },
  CANARYD_ERR_RATE_LIMITED: { status: 429, summary: 'Too many failed admin authentication attempts.' },
  CANARYD_ERR_LIMIT_REACHED: {
    status: 409,
    summary: 'A documented cap was reached (flags, rules, state file size); the change was not made.',
  },
  CANARYD_ERR_FAULTS_REFUSED: { status: 409, summary: 'Fault injection was refused by a safety switch (production, disabled, limit).' },
  CANARYD_ERR_FAULT_INJECTED: { status: 500, summary: 'The response was produced by an injected fault.' },
  CANARYD_ERR_DEPENDENCY_LISTEN: {
    status: 500,
    summary: 'A dependency listener (dependencies[].listen / listeners) could not bind its address.',
  },
  CANARYD_ERR_STATE_IO: { status: 500, summary: 'Reading or writing durable state under state.dir failed.' },
  CANARYD_ERR_TLS: {
    status: 502,
    summary:
      'TLS failed: a certificate or key file is unreadable or invalid, or an upstream certificate was refused (expired, wrong CA, wrong name).',
  },
  CANARYD_ERR_UPSTREAM_OVERLOADED: {
    status: 503,
    summary: 'The upstream has too many pending requests (circuit breaker); the request was not sent.',
  },
  CANARYD_ERR_UPSTREAM_EJECTED: {
    status: 503,
    summary: 'The upstream was ejected after consecutive failures and no other version can take the request.',
  },
  CANARYD_ERR_STATE_LOCKED: {
    status: 409,
    summary: 'Another live canaryd holds state.dir (its lock file names the owner PID); give each canaryd its own state.dir.',
  },
  CANARYD_ERR_FLEET_UNAVAILABLE: {
    status: 503,
    summary:
      'Fleet mode: Redis or the leader cannot be reached for this write; a rollback is still applied locally and sent to the fleet when Redis is back.',
  },
  CANARYD_ERR_INTERNAL: { status: 500, summary: 'An unexpected internal error.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class CanarydError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** structured detail (e.g. the list of config problems) */
  readonly details?: unknown;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CanarydError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options?.details;
  }
  toJSON(): { error: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, details: this.details };
  }
}

export function isCanarydError(e: unknown): e is CanarydError {
  return e instanceof CanarydError;
}
