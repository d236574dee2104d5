/** `canaryd --config FILE`: load, start, reload on SIGHUP, drain on SIGTERM/SIGINT and exit 0. */
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
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    sidecar.log.info({ event: 'signal', signal }, `received ${signal}, draining`);
    sidecar.stop().then(
      () => process.exit(0),
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
