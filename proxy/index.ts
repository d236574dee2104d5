export { ProxyServer, type ProxySettings, type RequestInterceptor, type ObservationSink, type RejectReason } from './server.js';
export { raiseFdLimit, readFdLimits, autoMaxConnections, type FdLimitReport } from './fd-limit.js';
export { Exchange, CanarydResponse } from './exchange.js';
export { TrafficSplitter, stickyBucket, STICKY_BUCKETS, USER_ID_HEADER, type RoutingInput, type RoutingRuleInput, type RouteChoice, type RuntimeRule } from './router.js';
export { WindowedRecorder } from './record.js';
export { ProxyMetrics, DURATION_BUCKETS_SECONDS } from './metrics.js';
export { Mirror } from './mirror.js';
export { Upstream, classifyUpstreamError } from './upstream.js';
export { CidrSet, compilePathMatcher, cookieValue } from './match.js';
export { upstreamRequestHeaders, newTraceparent } from './headers.js';
export * from './faults/index.js';
export * from './tcp/index.js'; // dependency relay
