import type { Config } from '../config.js';
import { type CheckResult, formatCheck, runChecks, SERVICES, type Service } from '../health.js';
import { boundBeyondLoopback, exposureWarning, metricsProtected } from '../server/exposure.js';

/**
 * The `security` line: how exposed this configuration's server is. A server bound beyond
 * loopback without authentication is a WARN (exit code unchanged), or a FAIL when
 * MCP_REQUIRE_AUTH=true, since such a server refuses to start.
 */
export function securityCheck(config: Config): CheckResult {
  const warning = exposureWarning(config);
  if (warning !== undefined) {
    return { service: 'security', ok: !config.mcp.requireAuth, warning: true, detail: warning, ms: 0 };
  }
  const bind = boundBeyondLoopback(config)
    ? `MCP_HOST=${config.mcp.host} with authentication on /mcp`
    : `bound to loopback (${config.mcp.host})`;
  const metrics = metricsProtected(config) ? '/metrics needs a token' : '/metrics is open';
  return { service: 'security', ok: true, detail: `ok, ${bind}; ${metrics}`, ms: 0 };
}

/** `memory check`; returns the exit code: 0 only when every asked service is ok. */
export async function runCheckCommand(
  config: Config,
  options: { service: string; json?: boolean; timeoutMs: number },
): Promise<number> {
  const services: readonly Service[] =
    options.service === 'all' ? SERVICES : options.service === 'security' ? [] : [options.service as Service];
  const results = await runChecks(config, services, options.timeoutMs);
  if (options.service === 'all' || options.service === 'security') results.push(securityCheck(config));
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
