import type { ConsolaInstance } from 'consola';

/**
 * Runs `stop` on the first SIGTERM or SIGINT, then exits 0 (1 if stopping failed); a second
 * signal exits at once. Shared by the long-running commands (`serve`, `work`).
 */
export function stopOnSignals(stop: () => Promise<void>, logger: ConsolaInstance): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info(`Received ${signal}, shutting down`);
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error('Shutdown failed', { error: String(error) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
