/**
 * docs/config.md is the schema, rendered: every key has a description, the checked-in file is what
 * `npm run config-docs` writes today, and every key the shipped example uses is in it.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigSchema } from '../config/index.js';
import { configKeys, renderConfigReference, undescribedKeys } from '../config/reference.js';

t.test('every config key has a description', async (t) => {
  t.same(undescribedKeys(ConfigSchema), [], 'keys without a description (add one in config/sections/)');
  t.ok(configKeys(ConfigSchema).length > 250, 'the walk reaches the nested keys');
});

t.test('the check finds a key without a description, also inside arrays and unions', async (t) => {
  const fragment = {
    type: 'object',
    properties: {
      a: { type: 'string', description: 'described' },
      b: { type: 'array', items: { type: 'object', properties: { c: { type: 'number' } } }, description: 'list' },
      d: { anyOf: [{ type: 'string' }, { type: 'object', properties: { e: { type: 'boolean' } } }], description: 'either' },
    },
  };
  t.same(undescribedKeys(fragment), ['b[].c', 'd.e']);
});

t.test('docs/config.md is current (run `npm run config-docs` after changing the schema)', async (t) => {
  const onDisk = readFileSync('docs/config.md', 'utf8');
  t.equal(onDisk, renderConfigReference(ConfigSchema), 'docs/config.md is stale: npm run config-docs');
});

t.test('every key of examples/canaryd.yaml is documented', async (t) => {
  const keys = configKeys(ConfigSchema);
  const documented = new Set(keys.map((k) => k.path));
  const maps = new Set(keys.filter((k) => k.type.startsWith('map of')).map((k) => k.path));
  const used: string[] = [];
  const walk = (v: unknown, prefix: string): void => {
    if (Array.isArray(v)) for (const item of v) walk(item, prefix + '[]');
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const path = prefix ? `${prefix}.${k}` : k;
        used.push(path);
        if (!maps.has(path)) walk(child, path); // a map's (header -> value) keys are free
      }
    }
  };
  walk(parse(readFileSync('examples/canaryd.yaml', 'utf8')), '');
  t.ok(used.length > 10, `the example uses ${used.length} keys`);
  t.same(
    used.filter((p) => !documented.has(p)),
    [],
    'keys used in the example but missing from the reference',
  );
});
