import type { Config } from '../config.js';
import { describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { connect } from '../store/connect.js';
import { MigrationError, migrate, migrationStatus } from '../store/migrate.js';

const logger = taggedLogger('migrate');

/** `memory migrate [--status]`; returns the exit code. */
export async function runMigrateCommand(config: Config, options: { statusOnly: boolean }): Promise<number> {
  if (config.databaseUrl === undefined) {
    process.stderr.write(
      'memory: EVENTS_DB_DSN is not set: expected a postgres:// URL (the embedded database migrates itself when `memory serve` starts)\n',
    );
    return 2;
  }
  const sql = connect(config.databaseUrl, { max: 1, applicationName: 'memory-migrate' });
  try {
    if (options.statusOnly) {
      const status = await migrationStatus(sql);
      for (const item of status) {
        const when = item.appliedAt ? ` ${item.appliedAt.toISOString()}` : '';
        process.stdout.write(`${item.state.padEnd(8)} ${item.name}${when}\n`);
      }
      return status.some((item) => item.state !== 'applied') ? 1 : 0;
    }
    const applied = await migrate(sql);
    if (applied.length === 0) logger.info('Database is up to date');
    for (const name of applied) logger.info(`Applied ${name}`);
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) logger.error(error.message);
    else logger.error(`migrate failed: ${describeError(error)}`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
