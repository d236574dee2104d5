/**
 * Admin error bodies: every error is `{error: CODE, message}` (plus `details` where there is a list), with
 * codes from core/errors.ts. Schema validation errors from fastify/ajv are rewritten to name the field, the
 * rule and the value, in the style of the config loader: `body.canary: must be <= 100, got 150`.
 */
import { ErrorBody } from '../contract/index.js';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CanarydError, isCanarydError, type ErrorCode } from '../core/index.js';

/** JSON Schema of every error body (the 4xx/5xx response schema of each route), from the contract. */
export const errorBodySchema = ErrorBody;

interface AjvLikeError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const PART: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

function pathOf(part: string, instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), part);
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur: any = root;
  for (const p of instancePath.split('/').slice(1)) cur = cur?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** One line per problem: "<part>.<path>: <rule>, got <value>". */
export function describeValidation(errors: readonly AjvLikeError[], context: string, data: unknown): string[] {
  const part = PART[context] ?? context;
  const out: string[] = [];
  for (const e of errors) {
    const path = pathOf(part, e.instancePath);
    const got = valueAt(data, e.instancePath);
    const p = e.params;
    let line: string;
    switch (e.keyword) {
      case 'additionalProperties':
        line = `${path}.${String(p.additionalProperty)}: unknown field`;
        break;
      case 'required':
        line = `${path}.${String(p.missingProperty)}: is required`;
        break;
      case 'maximum':
      case 'minimum':
      case 'exclusiveMaximum':
      case 'exclusiveMinimum':
        line = `${path}: must be ${String(p.comparison)} ${String(p.limit)}, got ${show(got)}`;
        break;
      case 'type':
        line = `${path}: must be ${String(p.type)}, got ${show(got)}`;
        break;
      case 'enum':
        line = `${path}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${show(got)}`;
        break;
      case 'pattern':
        line = `${path}: must match ${String(p.pattern)}, got ${show(got)}`;
        break;
      case 'minProperties':
        line = `${path}: must have at least ${String(p.limit)} field(s)`;
        break;
      default:
        line = `${path}: ${e.message ?? e.keyword}, got ${show(got)}`;
    }
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

function dataFor(req: FastifyRequest, context: string): unknown {
  if (context === 'body') return req.body;
  if (context === 'querystring') return req.query;
  if (context === 'params') return req.params;
  if (context === 'headers') return req.headers;
  return undefined;
}

function send(reply: FastifyReply, status: number, code: ErrorCode, message: string, details?: unknown): void {
  void reply.status(status).send(details === undefined ? { error: code, message } : { error: code, message, details });
}

/** The admin's error handler: CanarydErrors as they are, validation rewritten, fastify's 4xx mapped, the rest 500. */
export function adminErrorHandler(log: { error(obj: object, msg: string): void }) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): void => {
    if (isCanarydError(err)) {
      send(reply, err.status, err.code, err.message, err.details);
      return;
    }
    const e = err as FastifyError & { validation?: AjvLikeError[]; validationContext?: string };
    if (Array.isArray(e.validation)) {
      const problems = describeValidation(e.validation, e.validationContext ?? 'body', dataFor(req, e.validationContext ?? 'body'));
      send(reply, 400, 'CANARYD_ERR_BAD_REQUEST', problems.join('; '), problems);
      return;
    }
    const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
    if (status === 401) return send(reply, 401, 'CANARYD_ERR_UNAUTHORIZED', e.message);
    if (status === 404) return send(reply, 404, 'CANARYD_ERR_NOT_FOUND', e.message);
    if (status === 429) return send(reply, 429, 'CANARYD_ERR_RATE_LIMITED', e.message);
    if (status >= 400 && status < 500) {
      // fastify's own client errors (bad JSON, unsupported media type, body too large): keep their status
      const msg =
        e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? `body: unsupported content-type ${show(req.headers['content-type'])}; send application/json`
          : e.message.startsWith('body')
            ? e.message
            : `body: ${e.message}`;
      return send(reply, status, 'CANARYD_ERR_BAD_REQUEST', msg);
    }
    log.error({ err, method: req.method, url: req.url }, 'admin request failed');
    send(reply, 500, 'CANARYD_ERR_INTERNAL', 'internal error; see the canaryd log');
  };
}
