/** A clock passed in, never read from globals, so analysis and controllers can be driven by tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = 0) {
    this.#t = start;
  }
  now(): number {
    return this.#t;
  }
  advance(ms: number): number {
    this.#t += ms;
    return this.#t;
  }
  set(ms: number): void {
    this.#t = ms;
  }
}
