/**
 * Config of OpenTelemetry tracing (docs/observability.md "Tracing"): where spans go (OTLP/HTTP JSON), how
 * many are sampled, and the bounds of the export queue. Absent: tracing is off and the request path is
 * exactly the one without it (the tracing stage is not in the chain). Reloaded like the other sections.
 */
import { Type } from '@sinclair/typebox';
import { Duration, StrictObject } from './types.js';

export const tracingSections = {
  tracing: Type.Optional(
    Type.Object(
      {
        otlp: Type.Object(
          {
            url: Type.String({
              pattern: '^https?://',
              description:
                'OTLP/HTTP receiver: the collector base URL (http://collector:4318, /v1/traces is appended) or the full traces endpoint (ending in /v1/traces)',
            }),
            headers: Type.Record(Type.String(), Type.String(), {
              default: {},
              description: 'Sent with every export, e.g. an API key (${VAR} interpolation applies)',
            }),
            timeout: Duration('10s', 'One export request; a slower answer counts as a failed export (its spans are dropped)'),
          },
          { additionalProperties: false, description: 'The OTLP/HTTP receiver spans are posted to (JSON encoding)' },
        ),
        sampleRatio: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 1,
          description:
            'Share of requests without a sampled/unsampled parent that are traced (trace-id ratio based); a traceparent that came in decides for its request',
        }),
        serviceName: Type.String({ minLength: 1, default: 'canaryd', description: 'The service.name resource attribute of the spans' }),
        batch: StrictObject(
          {
            maxQueueSize: Type.Integer({
              minimum: 1,
              default: 2048,
              description: 'Finished spans held for export; when full, new spans are dropped and counted',
            }),
            maxBatchSize: Type.Integer({ minimum: 1, default: 512, description: 'Spans in one export request at most' }),
            interval: Duration('5s', 'How often the queue is exported (sooner when a full batch is waiting)'),
          },
          { description: 'Bounds of the export queue' },
        ),
      },
      { additionalProperties: false, description: 'OpenTelemetry spans (off when absent)' },
    ),
  ),
};
