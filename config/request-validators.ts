/**
 * JSON Schema validators for admin requests, kept here with the config's validator so Ajv lives in one
 * folder. Bodies are validated WITHOUT type coercion: fastify's default (`coerceTypes: 'array'`) turned
 * `{"canary": null}` or `"  "` into 0, `true` into 1 and `[42]` into 42. Query strings, params and headers
 * are text on the wire, so they keep coercion (`?limit=10` is the number 10). Otherwise fastify's defaults,
 * with every error reported and nothing removed silently.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';

export type RequestPart = 'body' | 'querystring' | 'params' | 'headers' | string;
export type RequestValidator = ((data: unknown) => boolean) & { errors?: any[] | null };

const common: Options = { useDefaults: true, removeAdditional: false, allErrors: true, addUsedSchema: false };
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** A compiler for request schemas; `shared()` gives the schemas routes reference by $id ("Name#"). */
export function requestValidatorCompiler(shared: () => readonly object[]): (schema: object, part: RequestPart) => RequestValidator {
  const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const textAjv = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));
  let sharedAdded = false;
  return (schema, part) => {
    if (!sharedAdded) {
      sharedAdded = true; // routes compile after every addSchema call, so the set is complete by now
      for (const s of shared() as Array<{ $id?: unknown }>) {
        for (const ajv of [bodyAjv, textAjv]) if (typeof s.$id === 'string' && !ajv.getSchema(s.$id)) ajv.addSchema(s as object);
      }
    }
    const ajv = part === 'body' ? bodyAjv : textAjv;
    const id = (schema as { $id?: string }).$id;
    return ((id && ajv.getSchema(id)) || ajv.compile(schema)) as RequestValidator;
  };
}
