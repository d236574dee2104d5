import t from 'tap';
import { readFileSync } from 'node:fs';
import { CanarydError, ERROR_CODES } from '../core/index.js';

t.test('docs/errors.md lists exactly the codes of core/errors.ts, with their statuses', async (t) => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  const rows = [...doc.matchAll(/^\| `(CANARYD_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
  t.same(rows.map((r) => r[0]).sort(), Object.keys(ERROR_CODES).sort(), 'same set of codes');
  for (const [code, status] of rows) t.equal(status, ERROR_CODES[code as keyof typeof ERROR_CODES].status, `${code} status`);
});

t.test('CanarydError carries code and status and serialises to the API error body', async (t) => {
  const e = new CanarydError('CANARYD_ERR_UPSTREAM_TIMEOUT', 'canary upstream timed out');
  t.equal(e.status, 504);
  t.same(e.toJSON(), { error: 'CANARYD_ERR_UPSTREAM_TIMEOUT', message: 'canary upstream timed out' });
});
