export { ConfigSchema, type Config, type RoutingConfig, type RoutingRuleConfig } from './schema.js';
export { loadConfigFile, parseConfigText } from './load.js';
export { validateConfig, deepFreeze } from './validate.js';
export { parseDuration, formatDuration } from './duration.js';
export { interpolateEnv } from './env.js';
export { isLoopbackHost, splitHostPort, validCidr } from './semantics.js';
