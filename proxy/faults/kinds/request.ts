/**
 * Fault kinds that act before the upstream is called: delay and dependency continue towards it; abort,
 * reset (before the response headers) and hang end the exchange without it. Each is a plain object
 * implementing FaultKind; registry.ts lists them.
 *
 * How each is recorded (the Observation, counted apart with faulted: true): abort with its status and
 * outcome "fault"; reset as 502 "fault"; hang ended at its bound as 504 "fault"; a client that gives up first
 * is a 499 client_abort, as it would be without canaryd. Injected breaks use the outcome "fault", never
 * "reset"/"timeout", so canaryd_upstream_errors_total only ever counts real upstream failures.
 */
import type { FaultParams } from '../../../config/index.js';
import type { FaultKind } from '../types.js';
import { ResetAfterHeadersTap } from './response.js';

interface DelayCompiled {
  base: number;
  spread: number;
}

/** Latency before forwarding: ms ± jitterMs, or uniform in minMs..maxMs. */
export const delayFault: FaultKind<DelayCompiled> = {
  type: 'delay',
  category: 'latency',
  stage: 'before',
  compile(params) {
    const p = params as FaultParams['delay'];
    if (p.ms !== undefined) {
      const j = p.jitterMs ?? 0;
      return { base: p.ms - j, spread: 2 * j };
    }
    return { base: p.minMs ?? 0, spread: (p.maxMs ?? 0) - (p.minMs ?? 0) };
  },
  apply(run, c, next) {
    const ms = Math.max(0, c.spread > 0 ? c.base + run.random() * c.spread : c.base);
    if (ms <= 0) return next();
    run.wait(ms, next);
  },
};

interface AbortCompiled {
  status: number;
  body: string | null;
  headers: Record<string, string>;
}

/** An answer canaryd makes itself; the upstream is never called. */
export const abortFault: FaultKind<AbortCompiled> = {
  type: 'abort',
  category: 'error',
  stage: 'outcome',
  compile(params) {
    const p = params as FaultParams['abort'];
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.headers ?? {})) headers[k.toLowerCase()] = v;
    return { status: p.status, body: p.body ?? null, headers };
  },
  apply(run, c) {
    const ex = run.ex;
    let body: string;
    let headers: Record<string, string>;
    if (c.body === null) {
      body = JSON.stringify({ error: 'CANARYD_ERR_FAULT_INJECTED', message: `fault injected by rule ${JSON.stringify(run.rule)}`, rule: run.rule, version: ex.version });
      headers = { 'content-type': 'application/json', 'x-canaryd-error': 'CANARYD_ERR_FAULT_INJECTED', ...c.headers };
    } else {
      body = c.body;
      headers = { 'content-type': 'text/plain; charset=utf-8', ...c.headers };
    }
    headers['x-canaryd-fault'] = run.rule;
    ex.respondLocal(c.status, headers, body);
    ex.finishLocal(c.status, 'fault');
  },
};

/** A TCP reset of the client connection: at once (upstream never called) or after the upstream's response headers. */
export const resetFault: FaultKind<{ afterHeaders: boolean }> = {
  type: 'reset',
  category: 'error',
  stage: 'outcome',
  compile(params) {
    return { afterHeaders: (params as FaultParams['reset']).afterHeaders === true };
  },
  apply(run, c, next) {
    if (c.afterHeaders) {
      run.tap(new ResetAfterHeadersTap(run));
      return next();
    }
    run.ex.finishLocal(502, 'fault');
    run.cut('rst');
  },
};

/**
 * No answer until the client gives up; at `maxMs` canaryd closes the connection (so nothing is held for
 * ever). Lifted by the kill switch, the request goes to the upstream after all.
 */
export const hangFault: FaultKind<{ maxMs: number }> = {
  type: 'hang',
  category: 'error',
  stage: 'outcome',
  compile(params) {
    return { maxMs: (params as FaultParams['hang']).maxMs ?? 30_000 };
  },
  apply(run, c, next) {
    run.wait(
      c.maxMs,
      () => {
        run.ex.finishFault(504, 'fault');
        run.cut('fin');
      },
      next,
    );
  },
};

/** Adds `<header>: <name>=<mode>` to the upstream request, for apps that simulate a failing dependency on it. */
export const dependencyFault: FaultKind<{ header: string; value: string }> = {
  type: 'dependency',
  category: 'signal',
  stage: 'before',
  compile(params) {
    const p = params as FaultParams['dependency'];
    return { header: (p.header ?? 'x-canaryd-dependency-fault').toLowerCase(), value: `${p.name}=${p.mode ?? 'error'}` };
  },
  apply(run, c, next) {
    const ex = run.ex;
    (ex.extraHeaders ??= []).push(c.header, c.value);
    next();
  },
};
