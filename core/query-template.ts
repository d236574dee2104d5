/**
 * PromQL query templates of `rollout.metrics` (and `finops.sources`): `{{name}}` placeholders filled in per
 * query. Shared by config/ (`canaryd validate` rejects unknown names and unbalanced braces) and analysis/
 * (rendering), so both read the same grammar. A value is inserted verbatim: the caller quotes it in the
 * query (`{version="{{version}}"}`), as in Flagger's and Argo Rollouts' templates.
 */

/** The names a template may use, with what each becomes. */
export const TEMPLATE_VARIABLES = {
  version: 'release string of the version the query is evaluated for (upstreams.<baseline|canary>.version)',
  arm: 'baseline or canary: the version the query is evaluated for, as canaryd labels its own series',
  canary: "the canary's release string (upstreams.canary.version)",
  baseline: "the baseline's release string (upstreams.baseline.version)",
  interval: "the check's query period as a PromQL range, e.g. 30s or 1m",
  service: 'analysis.service (default canaryd): the service name the series are labelled with',
} as const;

export type TemplateVariable = keyof typeof TEMPLATE_VARIABLES;
export type TemplateValues = Record<TemplateVariable, string>;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Every problem of a template, each one sentence; [] when it renders. */
export function templateProblems(query: string): string[] {
  const out: string[] = [];
  for (const m of query.matchAll(PLACEHOLDER)) {
    if (!Object.hasOwn(TEMPLATE_VARIABLES, m[1]))
      out.push(
        `unknown placeholder {{${m[1]}}}; known: ${Object.keys(TEMPLATE_VARIABLES)
          .map((k) => `{{${k}}}`)
          .join(', ')}`,
      );
  }
  const rest = query.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}')) out.push('unbalanced {{ or }}: a placeholder is {{name}}');
  if (query.trim() === '') out.push('the query is empty');
  return out;
}

/** The query with every placeholder replaced. Call templateProblems first: an unknown name throws. */
export function renderTemplate(query: string, values: TemplateValues): string {
  return query.replace(PLACEHOLDER, (_m, name: string) => {
    if (!Object.hasOwn(values, name)) throw new Error(`unknown placeholder {{${name}}}`);
    return values[name as TemplateVariable];
  });
}

/** A duration in ms as a PromQL range: 90000 → "90s", 60000 → "1m", 500 → "1s" (PromQL ranges need ≥ 1 s to be useful). */
export function promRange(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}
