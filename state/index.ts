export { AuditLog, DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_BYTES, type AuditLogOptions } from './audit-log.js';
export { StateStore, MAX_STATE_FILE_BYTES, type StateWriteObserver } from './store.js';
export { StateDirLock, LOCK_FILE, type LockOwner } from './lock.js';
export { AuditTrail, AUDIT_FILE, type AuditAppender } from './audit-trail.js';
