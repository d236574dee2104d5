export { ProxyServer, type ProxySettings, type RejectReason } from './server.js';
export { type ProxyStage, type ExchangeFailure } from './stages.js';
export { ObservationStage, AccessLogStage } from './observe.js';
export { raiseFdLimit, readFdLimits, autoMaxConnections, type FdLimitReport } from './fd-limit.js';
export { Exchange, CanarydResponse, type AttemptTrace } from './exchange.js';
export { TrafficSplitter, USER_ID_HEADER, type RoutingInput, type RoutingRuleInput, type RouteChoice } from './router.js';
export {
  compileRule,
  stickyBucket,
  stickyThreshold,
  STICKY_BUCKETS,
  type RequestAttributes,
  type RuleMatch,
  type RuleSpec,
  type CompiledRule,
} from './rules.js';
export { WindowedRecorder } from './record.js';
export { ProxyMetrics, DURATION_BUCKETS_SECONDS } from './metrics.js';
export { Mirror } from './mirror.js';
export { Upstream, classifyUpstreamError } from './upstream.js';
export { CidrSet, compilePathMatcher, cookieValue } from './match.js';
export { upstreamRequestHeaders, isValidTraceparent } from './headers.js';
// the TLS listener's certificate loading and reloading, shared with the admin and metrics listeners
export { serverTlsOptions, CertificateWatcher, type ServerTlsFiles } from './tls/context.js';
export * from './faults/index.js';
export * from './tcp/index.js'; // dependency relay
export * from './outlier/index.js'; // upstream outlier ejection
