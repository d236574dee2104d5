/**
 * Helpers for the fault-injection tests: a Sidecar with two echo upstreams and a faults section, a raw
 * TCP client that reports exactly what the client saw (bytes, end, reset), and the recorder's clean vs
 * faulted totals.
 */
import { connect } from 'node:net';
import { parseConfigText } from '../../config/index.js';
import type { Clock, VersionName } from '../../core/index.js';
import { Sidecar } from '../../sidecar.js';
import { allowUnauthenticatedAdmin, configYaml, tempDir } from './canaryd.js';
import { memoryLogger, type LogLines } from './admin.js';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.js';

export interface FaultRig extends LogLines {
  sidecar: Sidecar;
  url: string;
  port: number;
  adminUrl: string;
  baseline: EchoUpstream;
  canary: EchoUpstream;
  stateDir: string;
  stop(): Promise<void>;
}

/** `faults` is YAML for the faults section body (indented two spaces), `extra` more top-level YAML. */
export async function startFaultRig(
  faults: string,
  opts: { extra?: string; clock?: Clock; stateDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<FaultRig> {
  const baseline = await startEchoUpstream('baseline');
  const canary = await startEchoUpstream('canary');
  const stateDir = opts.stateDir ?? tempDir('canaryd-faults-');
  const yaml = configYaml(baseline.url, canary.url, `${opts.extra ?? ''}\nfaults:\n${faults}\n`, stateDir);
  const config = parseConfigText(allowUnauthenticatedAdmin(yaml), opts.env ?? {});
  const { lines, logger } = memoryLogger();
  const sidecar = new Sidecar({ config, logger, clock: opts.clock });
  await sidecar.start();
  let stopped = false;
  return {
    sidecar,
    url: `http://127.0.0.1:${sidecar.proxyAddress!.port}`,
    port: sidecar.proxyAddress!.port,
    adminUrl: `http://127.0.0.1:${sidecar.adminAddress!.port}`,
    baseline,
    canary,
    stateDir,
    lines,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await sidecar.stop(500);
      await baseline.close();
      await canary.close();
    },
  };
}

export interface RawResult {
  /** everything received, as latin1 */
  text: string;
  bytes: number;
  /** "end" (FIN), "reset" (ECONNRESET), "timeout" (our own bound), or another error code */
  ended: string;
  /** bytes after the response head, when there was one */
  bodyBytes: number | null;
  status: number | null;
  headMs: number | null;
  endMs: number;
}

/** One request over a fresh TCP connection, read until the server closes it (or `timeoutMs`). */
export function rawRequest(
  port: number,
  path: string,
  opts: { headers?: Record<string, string>; timeoutMs?: number; method?: string } = {},
): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let headMs: number | null = null;
    let done = false;
    const hdrs = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...(opts.headers ?? {}) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    sock.on('connect', () => sock.write(`${opts.method ?? 'GET'} ${path} HTTP/1.1\r\n${hdrs}\r\n`));
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (headMs === null && Buffer.concat(chunks).includes('\r\n\r\n')) headMs = performance.now() - started;
    });
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 10_000);
    const finish = (how: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      const head = buf.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1', 0, 20));
      resolve({
        text: buf.toString('latin1'),
        bytes: buf.length,
        ended: how,
        bodyBytes: head >= 0 ? buf.length - head - 4 : null,
        status: m ? Number(m[1]) : null,
        headMs,
        endMs: performance.now() - started,
      });
    };
    sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' ? 'reset' : (e.code ?? e.message)));
    sock.on('end', () => finish('end'));
    sock.on('close', () => finish('end'));
  });
}

/** Clean and faulted request counts in the recorder's windows, per version. */
export function recorded(
  sidecar: Sidecar,
  version: VersionName,
): { clean: number; faulted: number; faulted5xx: number; faultedStatus: number[] } {
  let clean = 0;
  let faulted = 0;
  let faulted5xx = 0;
  const faultedStatus = [0, 0, 0, 0, 0];
  for (const w of sidecar.recorder.windows(version, 0, Number.MAX_SAFE_INTEGER)) {
    clean += w.clean.requests;
    faulted += w.faulted.requests;
    faulted5xx += w.faulted.statusClass[4];
    w.faulted.statusClass.forEach((n, i) => (faultedStatus[i] += n));
  }
  return { clean, faulted, faulted5xx, faultedStatus };
}

/** Active handles of this process by type (process.getActiveResourcesInfo). */
export function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}
