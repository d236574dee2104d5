/**
 * The whole config schema, composed from one section file per area. It is the source of the Config type
 * (TypeBox Static), so type and validation never drift; `npm run build` writes it out as
 * config/canaryd.schema.json for editors.
 */
import { Type, type Static } from '@sinclair/typebox';
import { proxySections } from './sections/proxy.js';
import { adminSections } from './sections/admin.js';
import { rolloutSections } from './sections/rollout.js';
import { faultSections } from './sections/faults.js';
import { dependencySections } from './sections/dependencies.js';
import { stateSections } from './sections/state.js';
import { http2Sections } from './sections/tls.js';
import { flagSections } from './sections/flags.js';
import { fleetSections } from './sections/fleet.js';
import { prometheusSections } from './sections/prometheus.js';
import { limitSections } from './sections/limits.js';
import { tracingSections } from './sections/tracing.js';
import { grpcSections } from './sections/grpc.js';
import { workerSections } from './sections/workers.js';
import { outlierSections } from './sections/outlier.js';

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'URL or path of this JSON Schema, for editors; ignored by canaryd' })),
    ...proxySections,
    ...adminSections,
    ...rolloutSections,
    ...faultSections,
    ...dependencySections,
    ...stateSections,
    ...http2Sections,
    ...flagSections,
    ...fleetSections,
    ...prometheusSections,
    ...limitSections,
    ...tracingSections,
    ...grpcSections,
    ...workerSections,
    ...outlierSections,
  },
  { additionalProperties: false, $id: 'https://canaryd.dev/schema/canaryd.schema.json', title: 'canaryd configuration' },
);

export type Config = Static<typeof ConfigSchema>;
export type RoutingConfig = Config['routing'];
