/**
 * Traffic mirroring: a share of baseline requests is shadowed to canary, fire-and-forget. The client never
 * waits for it and never sees its result: the shadow's body is copied as the original streams (a listener
 * beside undici's, never slowing it), shadows of bodies above maxBodyBytes are dropped, and the shadow's
 * response is read and thrown away.
 */
import type { IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import { upstreamRequestHeaders } from './headers.js';
import type { Upstream } from './upstream.js';

export type MirrorOutcome = 'sent' | 'failed' | 'skipped_body';

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

export class Mirror {
  percent: number;
  maxBodyBytes: number;
  #target: () => Upstream;
  #count: (outcome: MirrorOutcome) => void;
  #random: () => number;

  constructor(opts: { percent: number; maxBodyBytes: number; target: () => Upstream; count: (o: MirrorOutcome) => void; random?: () => number }) {
    this.percent = opts.percent;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.#target = opts.target;
    this.#count = opts.count;
    this.#random = opts.random ?? Math.random;
  }

  maybeShadow(req: IncomingMessage, url: string, clientIp: string, hasBody: boolean): void {
    if (this.percent <= 0 || this.#random() * 100 >= this.percent) return;
    const upstream = this.#target();
    const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp, proto: 'http' });
    headers.push('x-canaryd-mirror', '1');
    const send = (body: Buffer | null) => {
      try {
        upstream.dispatch(
          { origin: upstream.origin, path: upstream.basePath + url, method: req.method as Dispatcher.HttpMethod, headers, body },
          new DiscardHandler(this.#count),
        );
      } catch {
        this.#count('failed');
      }
    };
    if (!hasBody) {
      send(null);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.maxBodyBytes) {
      this.#count('skipped_body');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let dropped = false;
    req.on('data', (c: Buffer) => {
      if (dropped) return;
      size += c.length;
      if (size > this.maxBodyBytes) {
        dropped = true;
        chunks.length = 0;
        this.#count('skipped_body');
      } else chunks.push(c);
    });
    req.once('end', () => {
      if (!dropped) send(Buffer.concat(chunks));
    });
  }
}
