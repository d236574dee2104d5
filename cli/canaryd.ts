#!/usr/bin/env node
/**
 * The canaryd command: a thin shell over Sidecar.
 *   canaryd --config FILE        run the proxy and the admin server (also: canaryd run --config FILE)
 *   canaryd validate FILE        check a config; exit 1 listing every problem
 *   canaryd schema               print the config JSON Schema
 *   canaryd demo [options]       run the embedded demo (two sample upstreams, a live rollout)
 *   canaryd ctl <command> ...    control a running canaryd over its admin API
 */
import { isCanarydError } from '../core/index.js';
import { ConfigSchema, loadConfigFile } from '../config/index.js';
import { runSidecarFromFile } from './run.js';

const USAGE = `usage:
  canaryd --config FILE          run canaryd (proxy + admin API)
  canaryd validate FILE          validate a config file
  canaryd schema                 print the JSON Schema of the config
  canaryd demo [--help]          run the embedded demo
  canaryd ctl <command> [--help] control a running canaryd`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'validate') {
    const file = rest[0];
    if (!file) {
      console.error('usage: canaryd validate FILE');
      return 2;
    }
    try {
      loadConfigFile(file);
      console.log(`${file}: valid`);
      return 0;
    } catch (e) {
      if (isCanarydError(e)) {
        console.error(`${file}: ${e.message}`);
        return 1;
      }
      throw e;
    }
  }
  if (cmd === 'schema') {
    console.log(JSON.stringify(ConfigSchema, null, 2));
    return 0;
  }
  if (cmd === 'demo') {
    const { runDemo } = await import('../demo/index.js');
    return runDemo(rest);
  }
  if (cmd === 'ctl') {
    const { runCtl } = await import('./ctl.js');
    return runCtl(rest);
  }
  const args = cmd === 'run' ? rest : argv;
  const i = args.findIndex((a) => a === '--config' || a === '-c');
  const file = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--config='))?.slice(9);
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  return runSidecarFromFile(file);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e) => {
    console.error(isCanarydError(e) ? `${e.code}: ${e.message}` : e);
    process.exitCode = 1;
  },
);
