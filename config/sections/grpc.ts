/** gRPC on the data plane (proxy/grpc.ts, docs/proxy.md "gRPC"): which grpc-status codes count as errors. */
import { Type } from '@sinclair/typebox';
import { GRPC_SERVER_ERRORS } from '../../core/index.js';
import { GrpcCode, Section } from './types.js';

export const grpcSections = {
  grpc: Section('gRPC requests (content-type application/grpc*): which grpc-status codes count as errors', {
    errorCodes: Type.Array(GrpcCode('a grpc-status code (0..16 or its name, e.g. UNAVAILABLE)'), {
      default: [...GRPC_SERVER_ERRORS],
      maxItems: 17,
      description:
        'grpc-status codes that count as an error in the analysis and the live snapshot, exactly like a 5xx (a gRPC call answers HTTP 200 whatever its outcome)',
    }),
  }),
};
