export { StateStore, MAX_STATE_FILE_BYTES } from './store.js';
export { AuditLog, DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_BYTES, type AuditLogOptions } from './audit-log.js';
