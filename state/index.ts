export { StateStore, type StateWriteObserver } from './store.js';
export { StateDirLock, LOCK_FILE, type LockOwner } from './lock.js';
