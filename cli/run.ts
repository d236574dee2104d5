/**
 * `canaryd --config FILE`: load, start, reload on SIGHUP, drain on SIGTERM/SIGINT. Exit codes: 0 drained
 * with nothing cut; 3 drained but requests were cut at shutdown.drainTimeout (a deploy can see it); 1 an
 * error while stopping; a second SIGTERM/SIGINT during the drain exits at once with 128 + the signal number.
 */
import { isCanarydError } from '../core/index.js';
import { loadConfigFile } from '../config/index.js';
import { Sidecar } from '../sidecar.js';

/** Returns -1: the process keeps running until a signal ends it. */
export async function runSidecarFromFile(file: string): Promise<number> {
  let config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (isCanarydError(e)) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const sidecar = new Sidecar({ config, configPath: file, raiseFdLimit: true });
  await sidecar.start();
  sidecar.watchConfig();
  process.on('SIGHUP', () => sidecar.reload('SIGHUP'));
  let stopping = false;
  const stop = (signal: 'SIGTERM' | 'SIGINT') => {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (stopping) {
      sidecar.log.warn({ event: 'signal', signal, inflight: sidecar.proxy.inflight }, `second ${signal} while draining: exiting now`);
      sidecar.log.flush?.();
      process.exit(code);
    }
    stopping = true;
    sidecar.log.info({ event: 'signal', signal }, `received ${signal}, draining`);
    sidecar.stop().then(
      ({ cut }) => {
        if (cut > 0) sidecar.log.warn({ event: 'requests_cut', cut }, `${cut} requests were cut at shutdown.drainTimeout: exit 3`);
        process.exit(cut > 0 ? 3 : 0);
      },
      (e) => {
        sidecar.log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}
