import type { Config } from '../config.js';
import { formatCheck, runChecks, SERVICES, type Service } from '../health.js';

/** `memory check`; returns the exit code: 0 only when every asked service is ok. */
export async function runCheckCommand(
  config: Config,
  options: { service: string; json?: boolean; timeoutMs: number },
): Promise<number> {
  const services: readonly Service[] = options.service === 'all' ? SERVICES : [options.service as Service];
  const results = await runChecks(config, services, options.timeoutMs);
  // Embedded mode: say where the data is (clients choose the working directory, so it is not obvious).
  const dataDir = config.databaseUrl === undefined ? config.dataDir : undefined;
  if (options.json) {
    const ok = results.every((r) => r.ok);
    process.stdout.write(`${JSON.stringify({ ok, results, ...(dataDir ? { data_dir: dataDir } : {}) })}\n`);
  } else {
    for (const result of results) process.stdout.write(`${formatCheck(result)}\n`);
    if (dataDir !== undefined) process.stdout.write(`data: ${dataDir}\n`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
