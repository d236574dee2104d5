/**
 * `${VAR}` interpolation in config string values. Done on parsed YAML scalars, not on the raw text, so an
 * environment value can never inject YAML structure. `${VAR:-fallback}` gives a default (may be empty);
 * `$${` writes a literal `${`. An unset variable without a default is an error naming the key path.
 */
import { CanarydError } from '../core/index.js';

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface EnvProblem {
  path: string;
  variable: string;
}

function interpolateString(s: string, env: NodeJS.ProcessEnv, path: string, problems: EnvProblem[]): string {
  if (!s.includes('${')) return s;
  return s.replace(REF, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    const v = env[name!];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    if (v === '') return '';
    problems.push({ path, variable: name! });
    return '';
  });
}

const WHOLE_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/**
 * Returns a copy of `value` with every string interpolated; throws CANARYD_ERR_CONFIG_ENV listing each unset
 * variable. `filled`, when given, receives the key path of every value that was one whole `${VAR}`: those
 * may become numbers or booleans where the schema wants one (config/coerce.ts).
 */
export function interpolateEnv<T>(value: T, env: NodeJS.ProcessEnv = process.env, filled?: Array<Array<string | number>>): T {
  const problems: EnvProblem[] = [];
  const walk = (v: unknown, path: string, segs: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      if (filled && WHOLE_REF.test(v)) filled.push(segs);
      return interpolateString(v, env, path, problems);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, [...segs, i]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, path ? `${path}.${k}` : k, [...segs, k]);
      return out;
    }
    return v;
  };
  const result = walk(value, '', []) as T;
  if (problems.length > 0) {
    const lines = problems.map(
      (p) => `${p.path}: environment variable ${p.variable} is not set (write \${${p.variable}:-} to allow it to be empty)`,
    );
    throw new CanarydError('CANARYD_ERR_CONFIG_ENV', lines.join('\n'), { details: lines });
  }
  return result;
}

/**
 * Environment variables that give a default to a key the file leaves out (the file always wins). They exist
 * for containers, where the right listen host and state directory differ from a laptop's: the image sets
 * them (Dockerfile ENV), a config without those keys then just works. docs/config.md lists them.
 */
export const ENV_DEFAULTS = {
  CANARYD_LISTEN: 'listen',
  CANARYD_ADMIN_LISTEN: 'admin.listen',
  CANARYD_STATE_DIR: 'state.dir',
} as const;

/** The config file the CLI reads when no --config is given (the image sets it). */
export const CONFIG_PATH_ENV = 'CANARYD_CONFIG';

/** Returns a copy of a parsed config with each ENV_DEFAULTS key the file leaves out filled from the environment. */
export function applyEnvDefaults(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const [name, path] of Object.entries(ENV_DEFAULTS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const keys = path.split('.');
    let node = out;
    for (const k of keys.slice(0, -1)) {
      const child = node[k];
      if (child !== undefined && (child === null || typeof child !== 'object' || Array.isArray(child))) {
        node = {}; // not a mapping: leave it for the schema to report
        break;
      }
      node[k] = { ...((child as Record<string, unknown>) ?? {}) };
      node = node[k] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1];
    if (node[last] === undefined) node[last] = value;
  }
  return out;
}
