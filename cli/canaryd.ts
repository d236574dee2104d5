#!/usr/bin/env node
/**
 * The canaryd command: a thin shell over Sidecar.
 *   canaryd --config FILE        run the proxy and the admin server (also: canaryd run --config FILE)
 *   canaryd validate FILE        check a config; exit 1 listing every problem
 *   canaryd schema               print the config JSON Schema
 *   canaryd healthcheck          ask the running canaryd's admin /healthz (the container HEALTHCHECK)
 *   canaryd demo [options]       run the embedded demo (two sample upstreams, a live rollout)
 *   canaryd ctl <command> ...    control a running canaryd over its admin API
 * Every subcommand answers --help; `canaryd --version` prints the package version.
 */
import { readFileSync } from 'node:fs';
import { isCanarydError } from '../core/index.js';
import { CONFIG_PATH_ENV, ConfigSchema, loadConfigFile } from '../config/index.js';
import { runSidecarFromFile } from './run.js';

const USAGE = `usage:
  canaryd [run] --config FILE    run canaryd (proxy + admin API); FILE defaults to $${CONFIG_PATH_ENV}
  canaryd validate FILE          validate a config file
  canaryd schema                 print the JSON Schema of the config
  canaryd healthcheck [--config FILE]
                                 exit 0 when the running canaryd's admin /healthz answers
  canaryd demo [--help]          run the embedded demo
  canaryd ctl <command> [--help] control a running canaryd
  canaryd --version              print the version`;

const HELP: Record<string, string> = {
  run: `usage: canaryd [run] --config FILE
  Runs the proxy and the admin API. FILE defaults to $${CONFIG_PATH_ENV}.
  SIGHUP (or a change of the file) reloads; SIGTERM/SIGINT drain and exit 0.
  Environment defaults for keys the file leaves out: CANARYD_LISTEN (listen),
  CANARYD_ADMIN_LISTEN (admin.listen), CANARYD_STATE_DIR (state.dir).`,
  validate: `usage: canaryd validate FILE
  Checks FILE against the schema and the semantic rules; exit 0 valid, 1 listing every problem, 2 usage.`,
  schema: `usage: canaryd schema
  Prints the JSON Schema of the config file (for editors).`,
  healthcheck: `usage: canaryd healthcheck [--config FILE]
  Reads FILE (default $${CONFIG_PATH_ENV}) for admin.listen and asks its /healthz; exit 0 healthy, 1 not.`,
};

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

/** --config FILE, --config=FILE or -c FILE; else $CANARYD_CONFIG. */
function configArg(args: string[], env: NodeJS.ProcessEnv): string | undefined {
  const i = args.findIndex((a) => a === '--config' || a === '-c');
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith('--config='));
  if (eq) return eq.slice('--config='.length);
  return env[CONFIG_PATH_ENV] || undefined;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    console.log(packageVersion());
    return 0;
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    console.log(topic && HELP[topic] ? HELP[topic] : USAGE);
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
  if (cmd !== undefined && HELP[cmd] && wantsHelp(rest)) {
    console.log(HELP[cmd]);
    return 0;
  }
  if (cmd === 'validate') {
    const file = rest.find((a) => !a.startsWith('-')) ?? (rest.length === 0 ? env[CONFIG_PATH_ENV] : undefined);
    if (!file) {
      console.error(HELP.validate);
      return 2;
    }
    try {
      loadConfigFile(file, env);
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
  if (cmd === 'healthcheck') {
    const file = configArg(rest, env);
    if (!file) {
      console.error(HELP.healthcheck);
      return 2;
    }
    const { runHealthcheck } = await import('./healthcheck.js');
    return runHealthcheck(file, env);
  }
  const args = cmd === 'run' ? rest : argv;
  if (wantsHelp(args)) {
    console.log(HELP.run);
    return 0;
  }
  if (args.length > 0 && !args[0].startsWith('-')) {
    console.error(`canaryd: unknown command ${JSON.stringify(args[0])}\n${USAGE}`);
    return 2;
  }
  const file = configArg(args, env);
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  return runSidecarFromFile(file);
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e) => {
    console.error(isCanarydError(e) ? `${e.code}: ${e.message}` : e);
    process.exitCode = 1;
  },
);
