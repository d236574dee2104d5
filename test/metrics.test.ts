/**
 * The typed-array collectors behind http_requests_total and http_request_duration_seconds must expose
 * exactly what prom-client's own Counter and Histogram would for the same observations (same series, same
 * values, same HELP/TYPE), so replacing them on the hot path changed nothing a scraper relies on.
 */
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS, ProxyMetrics } from '../proxy/index.js';

/** Exposition lines of the two metrics, label order normalised (Prometheus ignores it), sorted. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^(# (HELP|TYPE) )?http_request(s_total|_duration_seconds)/.test(l))
    .map((l) => l.replace(/\{([^}]*)\}/, (_m, inner: string) => `{${inner.split(',').sort().join(',')}}`))
    .sort();
}

t.test('collectors expose what prom-client would', async (t) => {
  const ours = new Registry();
  const metrics = new ProxyMetrics(ours);
  const reference = new Registry();
  const counter = new Counter({
    name: 'http_requests_total',
    help: 'Requests proxied, by version and response status (and grpc_status for gRPC calls)',
    labelNames: ['version', 'status'],
    registers: [reference],
  });
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Request duration seen by canaryd, by version',
    labelNames: ['version'],
    buckets: DURATION_BUCKETS_SECONDS,
    registers: [reference],
  });
  // one deliberate difference: both versions' histograms exist (at zero) from the start, so rate() has a
  // first sample before the first request instead of losing the increments until the first scrape
  const before = lines(await ours.metrics());
  for (const v of ['baseline', 'canary']) {
    t.ok(
      before.includes(`http_request_duration_seconds_bucket{le="+Inf",version="${v}"} 0`),
      `${v} histogram exposed at zero before any request`,
    );
    t.ok(before.includes(`http_request_duration_seconds_count{version="${v}"} 0`));
  }
  t.notOk(
    before.some((l) => l.startsWith('http_requests_total{')),
    'no status series before a status is seen',
  );

  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const statuses = [200, 200, 200, 201, 304, 404, 499, 500, 502, 503, 504];
  // exact bucket bounds included: a value equal to a bound belongs to that bucket (le)
  const durations = [...DURATION_BUCKETS_SECONDS.map((s) => s * 1000), 0, 0.3, 7, 42, 1234, 99_999];
  for (let i = 0; i < 5000; i++) {
    const version = rnd() < 0.3 ? 'canary' : 'baseline';
    const status = statuses[Math.floor(rnd() * statuses.length)];
    const durationMs = i < durations.length ? durations[i] : durations[Math.floor(rnd() * durations.length)] * rnd();
    metrics.observe({ version, status, durationMs, outcome: 'ok', faulted: false });
    counter.labels(version, String(status)).inc();
    histogram.labels(version).observe(durationMs / 1000);
  }
  const got = lines(await ours.metrics());
  t.same(got, lines(await reference.metrics()), 'identical after 5,000 observations');
  t.ok(
    got.some((l) => l.startsWith('http_requests_total{status="499",version="canary"}')),
    'statuses appear as they are seen',
  );
  t.ok(got.includes('# TYPE http_request_duration_seconds histogram'));

  const snapshot = await ours.getMetricsAsJSON();
  t.ok(
    snapshot.some((m) => m.name === 'http_requests_total' && String(m.type) === 'counter'),
    'JSON view works too',
  );
  ours.resetMetrics();
  t.notOk((await ours.metrics()).includes('http_requests_total{'), 'reset clears the counts');
});
