#!/usr/bin/env node
// `npm run openapi`: writes docs/openapi.json, the document the admin API serves (built from the route
// schemas by @fastify/swagger; see test/helpers/openapi.ts). test/admin-openapi.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { servedOpenapi } from '../dist/test/helpers/openapi.js';

const doc = await servedOpenapi();
writeFileSync('docs/openapi.json', JSON.stringify(doc, null, 2) + '\n');
console.log(`docs/openapi.json: ${Object.keys(doc.paths).length} paths`);
