/**
 * Bearer-token check for admin routes: constant-time comparison (timingSafeEqual over SHA-256 digests, so
 * length differences leak nothing), and failed attempts rate-limited per client IP with a logged warning.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function bearerOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1].trim() : undefined;
}

/** Counts failures per key in a sliding window; `blocked` once `limit` failures are seen within `windowMs`. */
export class FailureLimiter {
  #failures = new Map<string, number[]>();
  constructor(
    readonly limit = 10,
    readonly windowMs = 60_000,
    readonly now: () => number = Date.now,
  ) {}

  #recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length > 0) this.#failures.set(key, list);
    else this.#failures.delete(key);
    return list;
  }

  blocked(key: string): boolean {
    return this.#recent(key).length >= this.limit;
  }

  fail(key: string): number {
    const list = this.#recent(key);
    list.push(this.now());
    this.#failures.set(key, list);
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value as string);
    return list.length;
  }
}
