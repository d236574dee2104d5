export { ConfigSchema, type Config, type RoutingConfig } from './schema.js';
export { loadConfigFile, parseConfigText, parseYamlDocument } from './load.js';
export { validateConfig, deepFreeze } from './validate.js';
export { parseDuration } from './duration.js';
export { interpolateEnv, applyEnvDefaults, ENV_DEFAULTS, CONFIG_PATH_ENV } from './env.js';
export { isLoopbackHost, splitHostPort, validCidr, MIN_TOKEN_BYTES } from './semantics.js';
export {
  FAULT_TYPES,
  FAULT_RULE_NAME_PATTERN,
  FaultMatchSchema,
  FaultParamSchemas,
  faultRuleFields,
  faultRuleProblems,
  faultKindsOf,
  isProduction,
  productionRefusal,
  type FaultTypeName,
  type FaultParams,
  type FaultRuleConfig,
  type FaultsConfig,
  ALL_FAULT_TYPES,
  type AnyFaultTypeName,
} from './sections/faults.js'; // faults
export {
  DEPENDENCY_FAULT_TYPES,
  DependencyFaultParamSchemas,
  DependencySchema,
  isDependencyFaultType,
  type DependencyConfig,
  type DependencyFaultParams,
  type DependencyFaultTypeName,
} from './sections/dependencies.js';
export { requestValidatorCompiler, type RequestValidator } from './request-validators.js';
export { listenSettings, serverTlsSettings, type ListenSettings, type ServerTlsSettings } from './sections/tls.js';
export { FileFlag, flagProblems, type FileFlagConfig } from './sections/flags.js'; // flags in the file
export { METRIC_CHECK_NAME_PATTERN } from './sections/prometheus.js';
export { workerCount } from './sections/workers.js';
