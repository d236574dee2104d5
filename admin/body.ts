/**
 * How the admin reads request bodies. Two rules a plain fastify setup does not give:
 *  - no type coercion on bodies: fastify's Ajv runs with `coerceTypes: 'array'`, which turned
 *    `{"canary": null}` and `{"canary": "  "}` into weight 0, `true` into 1 and `[42]` into 42. Bodies are
 *    validated without coercion (config/request-validators.ts; a wrong type is a 400 naming the field);
 *    query strings, params and headers are text on the wire, so they keep coercion;
 *  - a nesting limit: JSON deeper than MAX_JSON_DEPTH is refused with 400 before it is parsed, so no
 *    recursive walk (validation, the error formatter) can run out of stack on `[[[[...]]]]`.
 * fastify's own JSON parser still does the parsing, with its prototype-poisoning protection
 * (`__proto__`/`constructor.prototype` keys are refused).
 */
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { CanarydError } from '../core/index.js';
import { requestValidatorCompiler } from '../config/index.js';

export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of objects/arrays in a JSON text, counted outside strings; stops once past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

/** Installs the body rules above on an admin app; call before routes are added. */
export function strictBodies(app: FastifyInstance): void {
  const compile = requestValidatorCompiler(() => Object.values(app.getSchemas()) as object[]);
  const compiler: FastifySchemaCompiler<any> = ({ schema, httpPart }) => compile(schema as object, httpPart ?? 'body');
  app.setValidatorCompiler(compiler);

  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      done(new CanarydError('CANARYD_ERR_BAD_REQUEST', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    parseJson(req, text, done);
  });
}
