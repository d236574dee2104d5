/**
 * The audit log (issue 11 item 8): size rotation keeping N files, reading the tail backwards (same records
 * as a forward parse, torn lines and chunk-straddling lines included), compact routine decisions, and a
 * rolled-back decision log read back newest first. (The 1 GB start is in audit-start.test.ts.)
 */
import t from 'tap';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, StateStore } from '../state/index.js';
import { RolloutAudit } from '../controller/index.js';
import { tempDir } from './helpers/canaryd.js';

t.test('rotation: at maxBytes the file becomes .1, older ones shift, at most keep are kept', async (t) => {
  const dir = tempDir();
  const store = new StateStore(dir, { log: { maxBytes: 65_536, keep: 2 } });
  const pad = 'x'.repeat(1000);
  for (let i = 0; i < 400; i++) store.append('audit.jsonl', { at: i, type: 'event', reason: pad });
  const files = readdirSync(dir)
    .filter((n) => n.startsWith('audit.jsonl'))
    .sort();
  t.same(files, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2'], 'live file and two rotated ones');
  for (const f of files) t.ok(statSync(join(dir, f)).size <= 65_536 + 1100, `${f} is bounded`);
  const tail = store.readLines<{ at: number }>('audit.jsonl', 100);
  t.same(
    tail.map((r) => r.at),
    Array.from({ length: 100 }, (_, i) => 300 + i),
    'the tail reads across files, oldest first',
  );
  const again = new StateStore(dir, { log: { maxBytes: 65_536, keep: 2 } });
  again.append('audit.jsonl', { at: 400, type: 'event', reason: 'after restart' });
  t.equal(again.readLines<{ at: number }>('audit.jsonl', 1)[0].at, 400, 'a restarted store appends where it left off');
});

t.test('backwards read = forward parse: random line lengths, lines longer than a chunk, a torn last line', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'log.jsonl');
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const records = Array.from({ length: 3000 }, (_, i) => ({ i, s: 'é'.repeat(Math.floor(rnd() ** 4 * 150_000)) }));
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n{"i": 3000, "torn');
  const log = new AuditLog(path, { scanBytes: Infinity });
  t.same(
    log.tail<{ i: number }>(5000).map((r) => r.i),
    records.map((r) => r.i),
    'every whole record, in order; the torn one skipped',
  );
  t.same(
    log.tail<{ i: number }>(10).map((r) => r.i),
    records.slice(-10).map((r) => r.i),
    'the last 10',
  );
  const budgeted = new AuditLog(path, { scanBytes: 1_000_000 });
  const got = budgeted.tail<{ i: number }>(5000).map((r) => r.i);
  t.ok(got.length > 0 && got.length < records.length, `a byte budget stops the scan early (${got.length} records)`);
  t.same(
    got,
    records.slice(-got.length).map((r) => r.i),
    'with the newest records only',
  );
});

export function report(verdict: string, failing = false): any {
  return {
    at: 1,
    window: { from: 0, to: 1 },
    verdict,
    hardBreach: false,
    nonInferior: verdict === 'pass',
    score: 90,
    moreCanaryRequestsNeeded: 10,
    reasons: ['r'],
    arms: {
      baseline: { requests: 100, errors: 1, errorRate: 0.01, p50Ms: 1, p95Ms: 2, p99Ms: 3, faultedRequests: 0 },
      canary: { requests: 50, errors: 0, errorRate: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, faultedRequests: 0 },
    },
    checks: [
      { name: 'slo.errorRate', kind: 'slo', status: failing ? 'fail' : 'pass', critical: true, hard: false, message: 'x'.repeat(2000) },
    ],
  };
}

t.test('decisions: full report on changes and failures, a summary line for routine CONTINUEs', async (t) => {
  const dir = tempDir();
  const store = new StateStore(dir);
  const audit = new RolloutAudit(store);
  const d = (action: string, rep: any, at: number): any => ({
    at,
    action,
    step: 0,
    canaryWeight: 5,
    reasons: [`${action} reason ${at}`],
    report: rep,
    source: 'analysis',
  });
  audit.decision(d('CONTINUE', report('inconclusive'), 1), 1, 0);
  audit.decision(d('CONTINUE', report('fail', true), 2), 1, 0);
  audit.decision(d('PROMOTE', report('pass'), 3), 1, 0);
  const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines[0].report,
    {
      summary: true,
      at: 1,
      verdict: 'inconclusive',
      score: 90,
      hardBreach: false,
      nonInferior: false,
      moreCanaryRequestsNeeded: 10,
      arms: { baseline: { requests: 100, errors: 1 }, canary: { requests: 50, errors: 0 } },
      checks: [{ name: 'slo.errorRate', status: 'pass' }],
    },
    'routine: a summary',
  );
  t.ok(JSON.stringify(lines[0]).length < 1000, `routine line ${JSON.stringify(lines[0]).length} bytes`);
  t.equal(lines[1].report.checks[0].message.length, 2000, 'a failed analysis keeps its full report');
  t.equal(lines[2].report.checks[0].message.length, 2000, 'a PROMOTE keeps its full report');
  const reread = new RolloutAudit(new StateStore(dir));
  t.same(
    reread.decisions(10).map((x) => x.at),
    [3, 2, 1],
    'read back from the end, newest first',
  );
});
