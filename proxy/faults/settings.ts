/**
 * The faults' one door to the config: the types of the faults section and the few pure helpers over them.
 * The rest of proxy/ is handed compiled settings by the composition root; fault rules are kept as the YAML
 * shape (the admin API shows them as written), so the engine reads that shape through here and nowhere else.
 */
export {
  ALL_FAULT_TYPES,
  FAULT_TYPES,
  faultKindsOf,
  isDependencyFaultType,
  isProduction,
  productionRefusal,
  type AnyFaultTypeName,
  type DependencyFaultTypeName,
  type FaultParams,
  type FaultRuleConfig,
  type FaultsConfig as FaultSettings,
  type FaultTypeName,
} from '../../config/index.js';
