/**
 * The metrics listener (`metrics.listen`): GET /metrics and nothing else, without the admin token, so a
 * Prometheus outside the pod can scrape canaryd without the admin API being exposed. A plain node:http
 * server: nothing on it can change canaryd, so it needs none of the admin's auth, schemas or routes.
 * Also the info series that join version names to release strings, and the state gauges the alert rules
 * (deploy/prometheus/canaryd-rules.yaml) key on, read when scraped:
 *   canaryd_version_info{version="canary",release="v1.2.0"} 1
 *   canaryd_build_info{version="0.1.0",node="v20.18.1"} 1
 *   canaryd_ready                                      1 when the proxy listens and is not draining
 *   canaryd_production                                 1 when environment: production or NODE_ENV=production
 *   canaryd_faults_auto_disabled                       1 while the faults safety switch's auto-disable latch is set
 *   canary_rollout_step_started_timestamp_seconds      when the current step began (0 without a rollout)
 *   canary_rollout_max_step_duration_seconds           rollout.maxStepDuration (0: never)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { Gauge, type Registry } from 'prom-client';

/** What the state gauges read at scrape time. */
export interface OpsGaugeSource {
  ready(): boolean;
  production(): boolean;
  faultsAutoDisabled(): boolean;
  /** epoch ms the current step began, null without an active rollout */
  stepStartedAt(): number | null;
  maxStepDurationMs(): number;
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export class InfoMetrics {
  readonly versionInfo: Gauge<'version' | 'release'>;
  readonly buildInfo: Gauge<'version' | 'node'>;

  constructor(registry: Registry, build: { version: string }, ops: OpsGaugeSource) {
    const registers = [registry];
    gauge(registry, 'canaryd_ready', 'Ready: the proxy listens and is not draining (1/0)', () => (ops.ready() ? 1 : 0));
    gauge(registry, 'canaryd_production', 'Production mode: environment: production or NODE_ENV=production (1/0)', () =>
      ops.production() ? 1 : 0,
    );
    gauge(registry, 'canaryd_faults_auto_disabled', 'Fault injection auto-disabled by its safety switch and not resumed (1/0)', () =>
      ops.faultsAutoDisabled() ? 1 : 0,
    );
    gauge(
      registry,
      'canary_rollout_step_started_timestamp_seconds',
      'When the current rollout step began, Unix seconds (0 without an active rollout)',
      () => (ops.stepStartedAt() ?? 0) / 1000,
    );
    gauge(
      registry,
      'canary_rollout_max_step_duration_seconds',
      'rollout.maxStepDuration in seconds (0: never)',
      () => ops.maxStepDurationMs() / 1000,
    );
    this.versionInfo = new Gauge({
      name: 'canaryd_version_info',
      help: 'The release string of each version (1); join on version to label series with releases',
      labelNames: ['version', 'release'],
      registers,
    });
    this.buildInfo = new Gauge({
      name: 'canaryd_build_info',
      help: 'canaryd build: its own version and the Node.js runtime (1)',
      labelNames: ['version', 'node'],
      registers,
    });
    this.buildInfo.labels(build.version, process.version).set(1);
  }

  /** The releases of the running config: the old label sets go, so a changed release is one series, not two. */
  setReleases(releases: { baseline: string; canary: string }): void {
    this.versionInfo.reset();
    this.versionInfo.labels('baseline', releases.baseline).set(1);
    this.versionInfo.labels('canary', releases.canary).set(1);
  }
}

/** Connections the metrics listener holds at once; more are closed at accept. */
export const METRICS_MAX_CONNECTIONS = 32;

export class MetricsListener {
  #server: Server | null = null;
  #text: () => Promise<string>;
  #contentType: string;

  constructor(text: () => Promise<string>, contentType: string) {
    this.#text = text;
    this.#contentType = contentType;
  }

  /** `tls` (metrics.tls): HTTPS with these options; its certificate is replaced with setSecureContext. */
  async listen(host: string, port: number, tls: TlsOptions | null = null): Promise<{ host: string; port: number }> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
        return;
      }
      this.#text().then(
        (body) =>
          res
            .writeHead(200, { 'content-type': this.#contentType, 'content-length': Buffer.byteLength(body) })
            .end(req.method === 'HEAD' ? undefined : body),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'),
      );
    };
    const server = tls === null ? createServer(handler) : (createHttpsServer(tls, handler) as unknown as Server);
    // Bounded like every other listener: a scraper holds one or two keep-alive connections, so a cap of
    // METRICS_MAX_CONNECTIONS and an idle cut after 60 s stop a connection flood from exhausting file
    // descriptors the proxy needs; heads within 10 s, whole requests within 30 s.
    server.maxConnections = METRICS_MAX_CONNECTIONS;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.setTimeout(60_000, (socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const a = server.address();
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port };
  }

  /** A reloaded certificate (metrics.tls): new handshakes get it, open connections keep theirs. */
  setSecureContext(ctx: SecureContextOptions): void {
    (this.#server as unknown as { setSecureContext?(c: SecureContextOptions): void } | null)?.setSecureContext?.(ctx);
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
