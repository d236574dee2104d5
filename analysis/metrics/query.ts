/** The PromQL a check sends for one version: its template with the placeholders filled in (core/query-template.ts). */
import { promRange, renderTemplate, type VersionName } from '../../core/index.js';
import type { MetricCheckSpec } from './check.js';
import type { ExpectedVersion } from './result.js';

export interface QueryContext {
  /** release strings, upstreams.<arm>.version */
  releases: Record<VersionName, string>;
  service: string;
}

export function checkQuery(spec: MetricCheckSpec, arm: VersionName, ctx: QueryContext): string {
  return renderTemplate(spec.query, {
    version: ctx.releases[arm],
    arm,
    canary: ctx.releases.canary,
    baseline: ctx.releases.baseline,
    interval: promRange(spec.intervalMs),
    service: ctx.service,
  });
}

/** The label values that name `arm` and the other version, for queryResultValue's wrong-labels test. */
export function expectedVersion(arm: VersionName, ctx: QueryContext): ExpectedVersion {
  const other: VersionName = arm === 'canary' ? 'baseline' : 'canary';
  const own = [arm, ctx.releases[arm]];
  // equal release strings cannot tell the versions apart: then only the arm names can
  return { own, other: [other, ctx.releases[other]].filter((v) => !own.includes(v)) };
}
