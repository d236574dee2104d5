#!/usr/bin/env node
// Bundles the dashboard (admin/dashboard/web/) with esbuild into dist/admin/dashboard/web/: app.js (our code
// + uPlot, one IIFE), app.css (ours + uPlot's), index.html and favicon.svg. Part of `npm run build`; runs in
// well under a second. Everything is from node_modules: the page loads nothing from elsewhere.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const src = new URL('../admin/dashboard/web/', import.meta.url);
const out = new URL('../dist/admin/dashboard/web/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('app.ts', src).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'favicon.svg']) copyFileSync(new URL(f, src), new URL(f, out));
console.log('dashboard built into dist/admin/dashboard/web/');
