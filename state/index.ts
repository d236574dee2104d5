export { StateStore } from './store.js';
export { StateDirLock, LOCK_FILE, type LockOwner } from './lock.js';
