import t from 'tap';
import { spawnSync } from 'node:child_process';

t.test('import direction rules hold (scripts/check-imports.mjs, also `npm run lint`)', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/check-imports.mjs'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr || r.stdout);
});
