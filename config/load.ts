/** Reading a config file: YAML -> ${ENV} interpolation -> schema validation -> frozen Config. */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { CanarydError } from '../core/index.js';
import { applyEnvDefaults, interpolateEnv } from './env.js';
import { validateConfig } from './validate.js';
import type { Config } from './schema.js';

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `${source}: ${e.message.split('\n')[0]}`);
    throw new CanarydError('CANARYD_ERR_CONFIG_READ', `cannot parse YAML:\n  ${lines.join('\n  ')}`, { details: lines });
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `${source}: the top level must be a mapping`, { details: ['(root): must be a mapping'] });
  }
  return validateConfig(applyEnvDefaults(interpolateEnv(raw, env), env), env);
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CanarydError('CANARYD_ERR_CONFIG_READ', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseConfigText(text, env, path);
}
