#!/usr/bin/env node
// `npm run config-docs`: writes docs/config.md from the schema (config/reference.ts).
// test/config-docs.test.ts fails when the file is stale or a key has no description.
import { writeFileSync } from 'node:fs';
const { ConfigSchema } = await import('../dist/config/index.js');
const { renderConfigReference, undescribedKeys } = await import('../dist/config/reference.js');
writeFileSync('docs/config.md', renderConfigReference(ConfigSchema));
const missing = undescribedKeys(ConfigSchema);
console.log(`docs/config.md written${missing.length ? `; keys without a description: ${missing.join(', ')}` : ''}`);
