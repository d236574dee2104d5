/**
 * A fault rule's match compiled once per rule change into a version check and one predicate over the
 * request (path glob or prefix, method, headers). Per request: a few comparisons, no regex or closure built.
 */
import type { IncomingMessage } from 'node:http';
import { ownHeader, type VersionName } from '../../core/index.js';
import { compilePathMatcher } from '../match.js';
import type { FaultMatch } from './types.js';

type Test = (req: IncomingMessage, path: string) => boolean;

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

export function compileFaultMatch(m: FaultMatch | undefined): { version: VersionName | null; test: Test | null } {
  const tests: Test[] = [];
  if (m?.path !== undefined) {
    const p = compilePathMatcher(m.path);
    tests.push((_req, path) => p(path));
  }
  if (m?.method !== undefined) {
    const methods = new Set(list(m.method).map((x) => x.toUpperCase()));
    tests.push((req) => methods.has(req.method ?? ''));
  }
  for (const [name, values] of Object.entries(m?.header ?? {})) {
    const lower = name.toLowerCase();
    const vs = list(values);
    const any = vs.includes('*');
    const set = new Set(vs);
    tests.push((req) => {
      const v = ownHeader(req.headers, lower);
      if (v === undefined) return false;
      return any || set.has(v);
    });
  }
  let test: Test | null = null;
  if (tests.length === 1) test = tests[0];
  else if (tests.length > 1) {
    test = (req, path) => {
      for (let i = 0; i < tests.length; i++) if (!tests[i](req, path)) return false;
      return true;
    };
  }
  return { version: m?.version ?? null, test };
}
