/** Helpers for the admin tests: an in-process Sidecar with a JSON-lines logger read back, and inject shortcuts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { TAP } from 'tap';
import { loadConfigFile, parseConfigText } from '../../config/index.js';
import { Sidecar, type SidecarOptions } from '../../sidecar.js';
import { allowUnauthenticatedAdmin, tempDir } from './canaryd.js';

/** The type of the `t` a tap subtest callback receives. */
export type TapTest = Parameters<Parameters<TAP['test']>[0]>[0];

export interface LogLines {
  lines: Array<Record<string, any>>;
}

/** A pino logger whose JSON lines are parsed back into `lines`. */
export function memoryLogger(): LogLines & { logger: Logger } {
  const lines: Array<Record<string, any>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { lines, logger };
}

export interface AdminSidecar extends LogLines {
  sidecar: Sidecar;
  app: FastifyInstance;
  url: string;
  adminUrl: string;
  configPath?: string;
  stop(): Promise<void>;
}

/** Starts a Sidecar from YAML; with `file: true` the YAML is written to a real file (reload, drift). */
export async function startAdminSidecar(
  yaml: string,
  opts: {
    file?: boolean;
    strictAdmin?: boolean;
    adminPlugins?: SidecarOptions['adminPlugins'];
    judge?: SidecarOptions['judge'];
    clock?: SidecarOptions['clock'];
    anomaly?: SidecarOptions['anomaly'];
  } = {},
): Promise<AdminSidecar> {
  if (!opts.strictAdmin) yaml = allowUnauthenticatedAdmin(yaml);
  const { lines, logger } = memoryLogger();
  let configPath: string | undefined;
  let config;
  if (opts.file) {
    configPath = join(tempDir('canaryd-admin-'), 'canaryd.yaml');
    writeFileSync(configPath, yaml);
    config = loadConfigFile(configPath);
  } else {
    config = parseConfigText(yaml, { ...process.env });
  }
  const sidecar = new Sidecar({
    config,
    configPath,
    logger,
    adminPlugins: opts.adminPlugins,
    judge: opts.judge,
    clock: opts.clock,
    anomaly: opts.anomaly,
  });
  await sidecar.start();
  let stopped = false;
  return {
    sidecar,
    app: sidecar.admin!,
    url: `http://127.0.0.1:${sidecar.proxyAddress!.port}`,
    adminUrl: `http://127.0.0.1:${sidecar.adminAddress!.port}`,
    configPath,
    lines,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await sidecar.stop(500);
    },
  };
}

export interface Answer {
  status: number;
  json: any;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

export async function call(
  app: FastifyInstance,
  method: string,
  url: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const r = await app.inject({ method: method as InjectOptions['method'], url, headers, payload: opts.body as InjectOptions['payload'] });
  let json: any = null;
  try {
    json = r.body ? JSON.parse(r.body) : null;
  } catch {
    json = null;
  }
  return { status: r.statusCode, json, headers: r.headers, body: r.body };
}

/**
 * How many times longer than usual the suite waits for an event before giving up: `CANARYD_TEST_PATIENCE`
 * (default 1). Waits only, never assertions: a loaded shared machine (many suites on 2 cores) starts processes
 * and reaches states more slowly, and a wait that gives up early there fails a correct build.
 */
export function testPatience(): number {
  const p = Number(process.env.CANARYD_TEST_PATIENCE ?? 1);
  return Number.isFinite(p) && p >= 1 ? p : 1;
}

/** Polls `fn` every `everyMs` until it returns a truthy value or `timeoutMs` (× testPatience()) passes (then throws). */
export async function until<T>(what: string, fn: () => Promise<T> | T, baseTimeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const timeoutMs = baseTimeoutMs * testPatience();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
