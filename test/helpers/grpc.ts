/**
 * gRPC for the tests and the bench, with no .proto file and no compiler: a generic service whose messages
 * are raw bytes (identity serializers), served and called with @grpc/grpc-js over h2c on 127.0.0.1. Each
 * server answers with its own name, so a test sees which version a call reached, and counts its calls.
 */
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
function method(path: string, requestStream: boolean, responseStream: boolean) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const ECHO_SERVICE = {
  unary: method('/canaryd.test.Echo/Unary', false, false),
  serverStream: method('/canaryd.test.Echo/ServerStream', false, true),
  clientStream: method('/canaryd.test.Echo/ClientStream', true, false),
  bidi: method('/canaryd.test.Echo/Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient>;

export interface EchoServerOptions {
  name: string;
  /** a status to fail unary calls with, asked per call (null: answer) */
  fail?: () => grpc.status | null;
  /** unary calls whose payload is "slow" wait this long (or until cancelled) before answering */
  slowMs?: number;
}

export interface EchoServer {
  name: string;
  port: number;
  /** calls received, by method name */
  calls: Record<string, number>;
  /** slow unary calls the client side cancelled (canaryd reset the upstream stream) */
  cancelled: number;
  close(): Promise<void>;
}

export async function startEchoServer(opts: EchoServerOptions): Promise<EchoServer> {
  const server = new grpc.Server();
  const calls: Record<string, number> = {};
  const s: EchoServer = { name: opts.name, port: 0, calls, cancelled: 0, close: async () => undefined };
  const count = (m: string) => (calls[m] = (calls[m] ?? 0) + 1);
  const trailer = () => {
    const md = new grpc.Metadata();
    md.set('x-served-by', opts.name);
    return md;
  };
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      count('unary');
      const code = opts.fail?.() ?? null;
      if (code !== null) {
        cb({ code, details: `${opts.name} fails`, metadata: trailer() });
        return;
      }
      const answer = () => cb(null, Buffer.from(`${opts.name}:${call.request.toString()}`), trailer());
      if (call.request.toString() !== 'slow') return answer();
      const timer = setTimeout(answer, opts.slowMs ?? 10_000);
      call.on('cancelled', () => {
        clearTimeout(timer);
        s.cancelled++;
      });
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      count('serverStream');
      const n = Math.min(100, Number(call.request.toString()));
      for (let i = 0; i < n; i++) call.write(Buffer.from(`${opts.name}:${i}`));
      call.end(trailer());
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      count('clientStream');
      const parts: string[] = [];
      call.on('data', (b: Buffer) => parts.push(b.toString()));
      call.on('end', () => cb(null, Buffer.from(`${opts.name}:${parts.join(',')}`), trailer()));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      count('bidi');
      call.on('data', (b: Buffer) => call.write(Buffer.from(`${opts.name}:${b.toString()}`)));
      call.on('end', () => call.end(trailer()));
    },
  });
  s.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  s.close = () =>
    new Promise<void>((resolve) => {
      server.forceShutdown();
      resolve();
    });
  return s;
}

export function echoClient(hostPort: string): EchoClientInstance {
  return new EchoClient(hostPort, grpc.credentials.createInsecure());
}

export interface UnaryResult {
  error: grpc.ServiceError | null;
  value: string | null;
  /** response headers (metadata) and trailers */
  metadata: grpc.Metadata | null;
  status: grpc.StatusObject | null;
}

/** One unary call; never rejects (the error is in the result). `deadlineMs` sets the client's deadline. */
export function unary(
  client: EchoClientInstance,
  payload: string,
  opts: { deadlineMs?: number; metadata?: grpc.Metadata } = {},
): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const res: UnaryResult = { error: null, value: null, metadata: null, status: null };
    const options: grpc.CallOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
    const call = client.makeUnaryRequest(
      ECHO_SERVICE.unary.path,
      identity,
      identity,
      Buffer.from(payload),
      opts.metadata ?? new grpc.Metadata(),
      options,
      (err: grpc.ServiceError | null, value?: Buffer) => {
        res.error = err;
        res.value = value === undefined ? null : value.toString();
      },
    );
    call.on('metadata', (md: grpc.Metadata) => (res.metadata = md));
    call.on('status', (st: grpc.StatusObject) => {
      res.status = st;
      setImmediate(() => resolve(res));
    });
  });
}

export { grpc };
