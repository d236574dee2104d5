/**
 * From one answer of Prometheus's instant-query API (GET /api/v1/query) to one number, or the reason there
 * is none. Pure: the HTTP client (controller/prometheus.ts) hands over the status code and the parsed body.
 * Anything but exactly one finite number for the right version is `nodata` with a sentence saying why, in
 * Prometheus's own words where it gave some: a custom check never passes on a result it cannot trust.
 */

export type ArmValue = { ok: true; value: number; labels: Readonly<Record<string, string>> } | { ok: false; reason: string };

/** What the query was evaluated for: the result must not be labelled as the other version. */
export interface ExpectedVersion {
  /** label values that name this version (its arm name and release string) */
  own: readonly string[];
  /** label values that name the other version; a result carrying one of them (and none of own) is the wrong series */
  other: readonly string[];
}

interface PromSeries {
  metric?: Record<string, string>;
  value?: [number, string];
}

function numberOf(v: unknown): number | null {
  if (!Array.isArray(v) || typeof v[1] !== 'string') return null;
  return Number(v[1]); // Prometheus sends "NaN", "+Inf", "-Inf" as strings too
}

function finite(value: number, labels: Record<string, string>): ArmValue {
  if (Number.isNaN(value)) return { ok: false, reason: 'the result is NaN (e.g. 0/0: no traffic in the range)' };
  if (!Number.isFinite(value)) return { ok: false, reason: `the result is ${value > 0 ? '+Inf' : '-Inf'} (a division by zero?)` };
  return { ok: true, value, labels };
}

function wrongLabels(labels: Record<string, string>, expect: ExpectedVersion): string | null {
  const values = Object.entries(labels);
  if (values.some(([, v]) => expect.own.includes(v))) return null;
  const hit = values.find(([, v]) => expect.other.includes(v));
  return hit
    ? `the result is labelled ${hit[0]}="${hit[1]}", the other version's: the query does not select the version it is evaluated for`
    : null;
}

function describeSeries(s: PromSeries): string {
  const labels = Object.entries(s.metric ?? {}).map(([k, v]) => `${k}="${v}"`);
  return `{${labels.join(', ')}}`;
}

/** The value of one instant query, or why there is none. */
export function queryResultValue(httpStatus: number, body: unknown, expect: ExpectedVersion): ArmValue {
  const b = body as { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown } } | null;
  if (b === null || typeof b !== 'object') return { ok: false, reason: `Prometheus answered HTTP ${httpStatus} without a JSON body` };
  if (b.status !== 'success') {
    const text = b.error ? `${b.errorType ? `${b.errorType}: ` : ''}${b.error}` : `HTTP ${httpStatus}`;
    return { ok: false, reason: `Prometheus rejected the query: ${text}` };
  }
  const type = b.data?.resultType;
  const result = b.data?.result;
  if (type === 'scalar') {
    const v = numberOf(result);
    return v === null ? { ok: false, reason: 'Prometheus sent a malformed scalar' } : finite(v, {});
  }
  if (type !== 'vector')
    return {
      ok: false,
      reason: `the query gives a ${type ?? 'missing'} result; a check needs an instant vector of one series or a scalar (wrap a range in rate() or avg_over_time())`,
    };
  if (!Array.isArray(result)) return { ok: false, reason: 'Prometheus sent a malformed vector' };
  if (result.length === 0)
    return { ok: false, reason: 'the query returned no series (empty result: wrong labels, no traffic yet, or the target is not scraped)' };
  if (result.length > 1) {
    const shown = (result as PromSeries[]).slice(0, 3).map(describeSeries).join(', ');
    return {
      ok: false,
      reason: `the query returned ${result.length} series (${shown}${result.length > 3 ? ', …' : ''}); aggregate it to one, e.g. sum(...) or max(...)`,
    };
  }
  const s = result[0] as PromSeries;
  const labels = s.metric ?? {};
  const wrong = wrongLabels(labels, expect);
  if (wrong !== null) return { ok: false, reason: wrong };
  const v = numberOf(s.value);
  return v === null ? { ok: false, reason: 'Prometheus sent a malformed sample' } : finite(v, labels);
}
