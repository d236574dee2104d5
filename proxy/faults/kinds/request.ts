/**
 * Fault kinds that act before the upstream is called: delay and dependency continue towards it; abort,
 * reset (before the response headers) and hang end the exchange without it. Each is a plain object
 * implementing FaultKind; registry.ts lists them.
 *
 * How each is recorded (the Observation, counted apart with faulted: true): abort with its status and
 * outcome "fault" (on a gRPC call: HTTP 200 and the rule's grpcStatus, a trailers-only answer); reset as 502 "fault"; hang ended at its bound as 504 "fault"; a client that gives up first
 * is a 499 client_abort, as it would be without canaryd. Injected breaks use the outcome "fault", never
 * "reset"/"timeout", so canaryd_upstream_errors_total only ever counts real upstream failures.
 */
import { grpcCodeNumber } from '../../../core/index.js';
import { grpcAnswerHeaders } from '../../grpc.js';
import type { FaultKind } from '../types.js';

/** The schema's default for dependency.header (a rule from the API may leave it out). */
export const DEPENDENCY_FAULT_HEADER = 'x-canaryd-dependency-fault';
import { ResetAfterHeadersTap } from './response.js';

/** Latency before forwarding: ms ± jitterMs, or uniform in minMs..maxMs. */
export const delayFault: FaultKind<'delay'> = {
  type: 'delay',
  category: 'latency',
  stage: 'before',
  compile(p) {
    const j = p.jitterMs ?? 0;
    const base = p.ms !== undefined ? p.ms - j : (p.minMs ?? 0);
    const spread = p.ms !== undefined ? 2 * j : (p.maxMs ?? 0) - (p.minMs ?? 0);
    return {
      apply(run, next) {
        const ms = Math.max(0, spread > 0 ? base + run.random() * spread : base);
        if (ms <= 0) return next();
        run.wait(ms, next);
      },
    };
  },
};

/** An answer canaryd makes itself; the upstream is never called. */
export const abortFault: FaultKind<'abort'> = {
  type: 'abort',
  category: 'error',
  stage: 'outcome',
  compile(p) {
    const own: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.headers ?? {})) own[k.toLowerCase()] = v;
    const status = p.status;
    const custom = p.body ?? null;
    const grpcStatus = grpcCodeNumber(p.grpcStatus ?? 'UNAVAILABLE');
    const grpcMessage = p.grpcMessage ?? null;
    return {
      apply(run) {
        const ex = run.ex;
        if (ex.grpc) {
          // a gRPC client reads the outcome from grpc-status: a trailers-only answer, HTTP 200 (proxy/grpc.ts)
          const headers = grpcAnswerHeaders(grpcStatus, grpcMessage ?? `fault injected by rule ${JSON.stringify(run.rule)}`);
          headers['x-canaryd-fault'] = run.rule;
          ex.respondGrpc(headers);
          ex.finishLocal(200, 'fault');
          return;
        }
        let body: string;
        let headers: Record<string, string>;
        if (custom === null) {
          body = JSON.stringify({
            error: 'CANARYD_ERR_FAULT_INJECTED',
            message: `fault injected by rule ${JSON.stringify(run.rule)}`,
            rule: run.rule,
            version: ex.version,
          });
          headers = { 'content-type': 'application/json', 'x-canaryd-error': 'CANARYD_ERR_FAULT_INJECTED', ...own };
        } else {
          body = custom;
          headers = { 'content-type': 'text/plain; charset=utf-8', ...own };
        }
        headers['x-canaryd-fault'] = run.rule;
        ex.respondLocal(status, headers, body);
        ex.finishLocal(status, 'fault');
      },
    };
  },
};

/** A TCP reset of the client connection: at once (upstream never called) or after the upstream's response headers. */
export const resetFault: FaultKind<'reset'> = {
  type: 'reset',
  category: 'error',
  stage: 'outcome',
  compile(p) {
    if (p.afterHeaders === true) {
      return {
        apply(run, next) {
          run.tap(new ResetAfterHeadersTap(run));
          next();
        },
      };
    }
    return {
      apply(run) {
        run.ex.finishLocal(502, 'fault');
        run.cut('rst');
      },
    };
  },
};

/**
 * No answer until the client gives up; at `maxMs` canaryd closes the connection (so nothing is held for
 * ever). Lifted by the kill switch, the request goes to the upstream after all.
 */
export const hangFault: FaultKind<'hang'> = {
  type: 'hang',
  category: 'error',
  stage: 'outcome',
  compile(p) {
    const maxMs = p.maxMs ?? 30_000;
    return {
      apply(run, next) {
        run.wait(
          maxMs,
          () => {
            run.ex.finishFault(504, 'fault');
            run.cut('fin');
          },
          next,
        );
      },
    };
  },
};

/** Adds `<header>: <name>=<mode>` to the upstream request, for apps that simulate a failing dependency on it. */
export const dependencyFault: FaultKind<'dependency'> = {
  type: 'dependency',
  category: 'signal',
  stage: 'before',
  compile(p) {
    const header = (p.header ?? DEPENDENCY_FAULT_HEADER).toLowerCase();
    const value = `${p.name}=${p.mode ?? 'error'}`;
    return {
      apply(run, next) {
        (run.ex.extraHeaders ??= []).push(header, value);
        next();
      },
    };
  },
};
