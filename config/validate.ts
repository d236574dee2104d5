/**
 * Validation: ajv compiled once from the TypeBox schema, with defaults filled in, unknown keys rejected and
 * durations turned into milliseconds. Every problem is reported as "<key path>: <problem>, got <value>".
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CanarydError } from '../core/index.js';
import { parseDuration } from './duration.js';
import { ConfigSchema, type Config } from './schema.js';
import { semanticProblems } from './semantics.js';
import { didYouMean } from './suggest.js';

/** Keys that were renamed or that people commonly guess: "use X instead". */
const RENAMED: Record<string, string> = {
  'routing.weight': 'routing.canaryWeight',
  'routing.canary_weight': 'routing.canaryWeight',
  'routing.percent': 'routing.canaryWeight',
  'routing.stickiness': 'routing.sticky',
  'routing.mirror.percentage': 'routing.mirror.percent',
  'timeouts.read': 'timeouts.body',
  'timeouts.response': 'timeouts.headers',
  'upstreams.stable': 'upstreams.baseline',
  'upstreams.primary': 'upstreams.baseline',
  'state.path': 'state.dir',
  port: 'listen',
  'admin.port': 'admin.listen',
};

function makeAjv() {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true });
  ajv.addKeyword({
    keyword: 'duration',
    modifying: true,
    errors: true,
    validate: function durationKeyword(
      this: unknown,
      _schema: unknown,
      data: unknown,
      _parent: unknown,
      ctx?: { parentData: any; parentDataProperty: string | number },
    ) {
      const ms = parseDuration(data);
      if (ms === undefined) {
        (durationKeyword as any).errors = [
          { keyword: 'duration', message: 'must be a duration like 500ms, 2s, 1m or a number of ms', params: {} },
        ];
        return false;
      }
      if (ctx) ctx.parentData[ctx.parentDataProperty] = ms;
      return true;
    },
  });
  return ajv;
}

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  if (!compiled) compiled = makeAjv().compile(ConfigSchema);
  return compiled;
}

function pathOf(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur: any = root;
  for (const p of instancePath.split('/').slice(1)) cur = cur?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

function describe(e: ErrorObject, root: unknown, all: ErrorObject[]): string | undefined {
  const path = pathOf(e.instancePath);
  const got = valueAt(root, e.instancePath);
  const at = (p: string) => (p ? `${p}: ` : '');
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const full = path ? `${path}.${key}` : key;
      const renamed = RENAMED[full];
      if (renamed) return `${full}: unknown key, use ${renamed} instead`;
      const known = Object.keys((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {}).filter(
        (k) => k !== '$schema',
      );
      const guess = didYouMean(key, known);
      return guess ? `${full}: unknown key, did you mean ${guess}?` : `${full}: unknown key`;
    }
    case 'required':
      return `${path ? `${path}.` : ''}${(e.params as { missingProperty: string }).missingProperty}: is required`;
    case 'maximum':
    case 'minimum':
    case 'exclusiveMaximum':
    case 'exclusiveMinimum':
      return `${at(path)}must be ${(e.params as { comparison: string }).comparison} ${(e.params as { limit: number }).limit}, got ${show(got)}`;
    case 'type':
      return `${at(path)}must be ${(e.params as { type: string }).type}, got ${show(got)}`;
    case 'pattern':
      return `${at(path)}must match ${(e.params as { pattern: string }).pattern}, got ${show(got)}`;
    case 'const':
      return undefined; // reported once by the enclosing anyOf
    case 'anyOf': {
      const allowed = all
        .filter((x) => x.keyword === 'const' && x.instancePath === e.instancePath)
        .map((x) => JSON.stringify((x.params as { allowedValue: unknown }).allowedValue));
      return allowed.length > 0
        ? `${at(path)}must be one of ${allowed.join(', ')}, got ${show(got)}`
        : `${at(path)}must match one of the allowed forms, got ${show(got)}`;
    }
    case 'duration':
      return `${at(path)}${e.message}, got ${show(got)}`;
    default:
      return `${at(path)}${e.message ?? e.keyword}, got ${show(got)}`;
  }
}

/** Finds where a key path is in the source file ("file:line:column"), for messages; undefined when unknown. */
export type Locator = (path: Array<string | number>) => string | undefined;

/** "a.b[2].c" -> ["a", "b", 2, "c"] */
function segmentsOfPath(path: string): Array<string | number> {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

/** The problem's location: the deepest part of its key path that exists in the file. */
function locate(problem: string, locator: Locator | undefined): string | undefined {
  if (!locator) return undefined;
  const i = problem.indexOf(': ');
  if (i <= 0) return undefined;
  const segs = segmentsOfPath(problem.slice(0, i));
  for (let n = segs.length; n > 0; n--) {
    const at = locator(segs.slice(0, n));
    if (at) return at;
  }
  return undefined;
}

/**
 * Validates (and fills defaults into) a parsed config. Throws CANARYD_ERR_CONFIG_INVALID listing every
 * problem — schema and semantic ones in one pass, so a file is fixed in one round. `details` holds the
 * problems ("<key path>: <problem>"); the message prefixes each with its file:line:column when `locator`
 * can find it. `env` is read by checks that depend on the environment (faults refused under NODE_ENV=production).
 */
export function validateConfig(input: unknown, env: NodeJS.ProcessEnv = process.env, locator?: Locator): Config {
  const data = structuredClone(input ?? {});
  const validate = validator();
  const problems: string[] = [];
  const seen = new Set<string>();
  const add = (line: string | undefined) => {
    if (line && !seen.has(line)) {
      seen.add(line);
      problems.push(line);
    }
  };
  const schemaOk = validate(data);
  if (!schemaOk) {
    // anyOf over literals yields one error per literal plus the anyOf: keep the anyOf; drop type errors of
    // union branches when the anyOf is reported.
    const anyOfPaths = new Set(validate.errors!.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
    for (const e of validate.errors!) {
      if (e.keyword !== 'anyOf' && anyOfPaths.has(e.instancePath) && /anyOf\/\d+/.test(e.schemaPath)) continue;
      add(describe(e, data, validate.errors!));
    }
  }
  // Semantic checks run on a schema-invalid config too (defaults are filled either way); a check that trips
  // over a value of the wrong type is skipped: the schema problem already names that key.
  try {
    for (const p of semanticProblems(data as Config, env)) add(p);
  } catch (e) {
    if (schemaOk) throw e;
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => {
      const at = locate(p, locator);
      return at ? `${at}: ${p}` : p;
    });
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, { details: problems });
  }
  return deepFreeze(data as Config);
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
