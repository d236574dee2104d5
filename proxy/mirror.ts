/**
 * Traffic mirroring: a share of baseline requests is shadowed to canary, fire-and-forget. The client never
 * waits for it and never sees its result: the shadow's response is read and thrown away, shadows of bodies
 * above maxBodyBytes are dropped, and at most `maxInflight` shadows run at once (a slow canary then sheds
 * shadows instead of queueing them without bound in its pool, where they would delay real canary traffic).
 *
 * A body is copied through a tee: the client request is piped into a PassThrough that the real request
 * reads, and the copy is taken from the same chunks. Listening to the request's 'data' directly would put
 * it into flowing mode before undici has a socket for the real request, and the real upstream would lose
 * those bytes. The tee keeps backpressure: the client is read only as fast as the real upstream takes it.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Exchange } from './exchange.js';
import type { ProxyStage } from './stages.js';
import { undiciErrors, type Upstream } from './upstream.js';

export type MirrorOutcome = 'sent' | 'failed' | 'skipped_body' | 'skipped_busy' | 'skipped_ejected';

class DiscardHandler implements Dispatcher.DispatchHandler {
  #done: (outcome: MirrorOutcome) => void;
  constructor(done: (outcome: MirrorOutcome) => void) {
    this.#done = done;
  }
  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.#done('sent');
  }
  onError(): void {
    this.#done('failed');
  }
}

/** Shadows in flight above which new ones are skipped: enough to keep a healthy canary pool busy. */
export const MIRROR_MAX_INFLIGHT = 256;

/** The mirror stage: in the chain only while percent > 0; acts on baseline requests in the request direction. */
export class Mirror implements ProxyStage {
  readonly name = 'mirror';
  maxBodyBytes: number;
  #percent = 0;
  #changed: () => void = () => undefined;
  maxInflight: number;
  #target: () => Upstream;
  #count: (outcome: MirrorOutcome) => void;
  #random: () => number;
  #ejected: () => boolean;
  #inflight = 0;
  #settled: (outcome: MirrorOutcome) => void;

  constructor(opts: {
    percent: number;
    maxBodyBytes: number;
    target: () => Upstream;
    count: (o: MirrorOutcome) => void;
    random?: () => number;
    maxInflight?: number;
    /** the canary's upstream is ejected (proxy/outlier): shadows are skipped, not sent to a dead canary */
    ejected?: () => boolean;
  }) {
    this.#ejected = opts.ejected ?? (() => false);
    this.#percent = opts.percent;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.maxInflight = opts.maxInflight ?? MIRROR_MAX_INFLIGHT;
    this.#target = opts.target;
    this.#count = opts.count;
    this.#random = opts.random ?? Math.random;
    this.#settled = (outcome) => {
      this.#inflight--;
      this.#count(outcome);
    };
  }

  get percent(): number {
    return this.#percent;
  }

  set percent(p: number) {
    const was = this.active;
    this.#percent = p;
    if (this.active !== was) this.#changed();
  }

  get active(): boolean {
    return this.#percent > 0;
  }

  bind(changed: () => void): void {
    this.#changed = changed;
  }

  /** Route stage: shadows a share of baseline requests; the real request then reads the tee. Never takes over. */
  route(ex: Exchange): boolean {
    if (ex.version === 'baseline' && this.wants()) ex.body = this.shadow(ex.req, ex.path, ex.upstreamHeaders, ex.body);
    return false;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** True when this request is to be shadowed (the percent roll). */
  wants(): boolean {
    return this.#percent > 0 && this.#random() * 100 < this.#percent;
  }

  /**
   * Shadows one request (call only when `wants()` said so). `headers` are the real request's rewritten
   * headers (copied, not changed). `body` is the real request's: a Buffer when canaryd buffered it (then
   * shared as is), else a stream. Returns what the real request must send as its body: the tee when a
   * stream is being copied, else `body` itself.
   */
  shadow(req: IncomingMessage, url: string, headers: readonly string[], body: Readable | Buffer | null): Readable | Buffer | null {
    const hasBody = body !== null;
    if (this.#inflight >= this.maxInflight) {
      this.#count('skipped_busy');
      return body;
    }
    if (this.#ejected()) {
      this.#count('skipped_ejected');
      return body;
    }
    const declared = Buffer.isBuffer(body) ? body.length : Number(req.headers['content-length'] ?? NaN);
    if (hasBody && declared > this.maxBodyBytes) {
      this.#count('skipped_body');
      return body;
    }
    const upstream = this.#target();
    const shadowHeaders = headers.concat('x-canaryd-mirror', '1');
    this.#inflight++;
    const send = (copy: Buffer | null) => {
      try {
        upstream.dispatch(
          {
            origin: upstream.origin,
            path: upstream.basePath + url,
            method: req.method as Dispatcher.HttpMethod,
            headers: shadowHeaders,
            body: copy,
          },
          new DiscardHandler(this.#settled),
        );
      } catch {
        this.#settled('failed');
      }
    };
    if (body === null || Buffer.isBuffer(body)) {
      send(body);
      return body;
    }
    const src = body;
    const tee = new PassThrough();
    const chunks: Buffer[] = [];
    let size = 0;
    let dropped = false;
    src.on('data', (c: Buffer) => {
      if (dropped) return;
      size += c.length;
      if (size > this.maxBodyBytes) {
        dropped = true;
        chunks.length = 0;
        this.#settled('skipped_body');
      } else chunks.push(c);
    });
    src.once('end', () => {
      if (!dropped) send(Buffer.concat(chunks));
    });
    req.once('close', () => {
      if (req.complete) return;
      // the client went away mid-body: the real request fails as a client abort, the shadow is not sent
      tee.destroy(new undiciErrors.RequestAbortedError());
      if (!dropped) {
        dropped = true;
        this.#settled('failed');
      }
    });
    src.pipe(tee);
    return tee;
  }
}
