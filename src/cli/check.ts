import type { Config } from '../config.js';
import { formatCheck, runChecks, SERVICES, type Service } from '../health.js';

/** `memory check`; returns the exit code: 0 only when every asked service is ok. */
export async function runCheckCommand(
  config: Config,
  options: { service: string; json?: boolean; timeoutMs: number },
): Promise<number> {
  const services: readonly Service[] = options.service === 'all' ? SERVICES : [options.service as Service];
  const results = await runChecks(config, services, options.timeoutMs);
  if (options.json) process.stdout.write(`${JSON.stringify({ ok: results.every((r) => r.ok), results })}\n`);
  else for (const result of results) process.stdout.write(`${formatCheck(result)}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}
