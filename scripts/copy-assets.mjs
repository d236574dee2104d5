// Post-build step: copies non-TypeScript assets into dist/ and writes config/canaryd.schema.json.
import { mkdirSync, writeFileSync } from 'node:fs';
const { ConfigSchema } = await import('../dist/config/index.js');
writeFileSync(new URL('../config/canaryd.schema.json', import.meta.url), JSON.stringify(ConfigSchema, null, 2) + '\n');
mkdirSync(new URL('../dist/config/', import.meta.url), { recursive: true });
