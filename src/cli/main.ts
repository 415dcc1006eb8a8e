/**
 * The `memory` command. Flags are parsed here; each mode is imported lazily and runs from a
 * validated `Config`. Exit codes: 0 success, 1 failure, 2 bad usage or bad configuration.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Config, ConfigError, loadConfig, redactUrl } from '../config.js';
import { describeError } from '../errors.js';
import { configureLogging, log, registerSecrets } from '../log.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Loads the configuration or exits 2 with one line naming the variable. */
function configOrExit(): Config {
  try {
    const config = loadConfig();
    configureLogging(config.logLevel);
    // The default compose password ("events") is no secret, and as a common word it would be
    // masked inside ordinary log lines.
    const password = config.postgres.password === 'events' ? undefined : config.postgres.password;
    registerSecrets(config.openai.apiKey, config.mcp.authToken, config.oauth?.ownerSecret, password);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`memory: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

export function buildProgram(): Command {
  const program = new Command('memory')
    .description(
      'MCP memory server: memories, history and artifacts with hybrid search, and semantic events with evidence',
    )
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('migrate')
    .description('apply pending sql/NNN_*.sql migrations to EVENTS_DB_DSN (safe to run concurrently)')
    .option('--status', 'list applied and pending migrations without applying anything')
    .action(async (options: { status?: boolean }) => {
      const config = configOrExit();
      const { runMigrateCommand } = await import('./migrate.js');
      process.exitCode = await runMigrateCommand(config, { statusOnly: options.status === true });
    });

  program
    .command('check')
    .description(
      'probe services; exit 0 only when every asked service is healthy (used as the container healthcheck)',
    )
    .addOption(
      new Option('--service <name>', 'service to check')
        .choices(['all', 'mcp-server', 'worker', 'postgres', 'chroma', 'security'])
        .default('all'),
    )
    .option('--json', 'print one JSON document instead of lines')
    .option('--timeout-ms <n>', 'deadline for all probes', positiveInt, 5000)
    .action(async (options: { service: string; json?: boolean; timeoutMs: number }) => {
      const config = configOrExit();
      const { runCheckCommand } = await import('./check.js');
      // Exit at once: a probe that timed out may still hold a half-open socket.
      process.exit(await runCheckCommand(config, options));
    });

  program
    .command('serve')
    .description(
      'run the MCP server: Streamable HTTP at /mcp and /mcp/ (GET /health) on MCP_HOST:MCP_PORT, or --stdio. ' +
        'Without EVENTS_DB_DSN and CHROMA_HOST it runs embedded Postgres and Chroma in MEMORY_DATA_DIR',
    )
    .option('--stdio', 'serve MCP over stdin/stdout (for clients that spawn the server); logs go to stderr')
    .option(
      '--with-worker',
      'also run an extraction worker in this process (default when the database is embedded)',
    )
    .option('--no-worker', 'never run an extraction worker in this process')
    .action(async (options: { stdio?: boolean; withWorker?: boolean; worker?: boolean }) => {
      const config = configOrExit();
      const { runServeCommand } = await import('./serve.js');
      const worker = options.worker === false ? false : options.withWorker === true ? true : undefined;
      await runServeCommand(config, {
        stdio: options.stdio === true,
        ...(worker !== undefined ? { worker } : {}),
      });
    });

  program
    .command('work')
    .description(
      'run an extraction worker: claims jobs from EVENTS_DB_DSN, extracts events with evidence (scale out freely)',
    )
    .option(
      '--grace-ms <n>',
      'on SIGTERM, how long the jobs in hand may take before they are released',
      positiveInt,
      25_000,
    )
    .action(async (options: { graceMs: number }) => {
      const config = configOrExit();
      const { runWorkCommand } = await import('./work.js');
      await runWorkCommand(config, options);
    });

  program
    .command('reindex')
    .description(
      'rebuild the vector index from Postgres with the configured embedder, beside the live collections, then switch ' +
        '(servers keep answering; a killed reindex resumes). --check compares the index with Postgres, --repair fixes it',
    )
    .addOption(
      new Option('--only <kinds...>', 'only these kinds').choices(['memories', 'history', 'artifacts']),
    )
    .option(
      '--check',
      'count orphan vectors, rows without vectors and records of another embedding space; exit 1 if any',
    )
    .option('--repair', 'fix what --check finds without embedding everything again')
    .option(
      '--batch-size <n>',
      'source items embedded per batch (and per saved resume point)',
      positiveInt,
      64,
    )
    .action(
      async (options: {
        only?: Array<'memories' | 'history' | 'artifacts'>;
        check?: boolean;
        repair?: boolean;
        batchSize: number;
      }) => {
        const config = configOrExit();
        const { runReindexCommand } = await import('./reindex.js');
        process.exitCode = await runReindexCommand(config, {
          ...(options.only ? { only: options.only } : {}),
          check: options.check === true,
          repair: options.repair === true,
          batchSize: options.batchSize,
        });
      },
    );

  program
    .command('export')
    .description(
      'write every memory, conversation turn, artifact revision (with its text), event (with evidence) and job state ' +
        'as JSON Lines, streamed; to stdout unless --out',
    )
    .option('--out <file>', 'write to this file (created when complete)')
    .action(async (options: { out?: string }) => {
      const config = configOrExit();
      const { runExportCommand } = await import('./transfer.js');
      process.exitCode = await runExportCommand(
        config,
        options.out !== undefined ? { out: options.out } : {},
      );
    });

  program
    .command('import')
    .description(
      'import a memory export: every line is validated first (nothing is written if one is bad), records already ' +
        'stored are kept (importing twice = once), embeddings are computed again',
    )
    .argument('<file>', 'a file written by memory export')
    .option('--dry-run', 'validate and count, write nothing')
    .action(async (file: string, options: { dryRun?: boolean }) => {
      const config = configOrExit();
      const { runImportCommand } = await import('./transfer.js');
      process.exitCode = await runImportCommand(config, { file, dryRun: options.dryRun === true });
    });

  const tokens = program
    .command('tokens')
    .description(
      'list or revoke the OAuth clients and tokens kept in EVENTS_DB_DSN (token values are never shown)',
    );
  tokens
    .command('list')
    .description('registered clients and live tokens')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const config = configOrExit();
      const { runTokensCommand } = await import('./tokens.js');
      process.exitCode = await runTokensCommand(config, { kind: 'list', json: options.json === true });
    });
  tokens
    .command('revoke')
    .description(
      'end an approval: a token id (its access and refresh tokens go together), --client, or --all',
    )
    .argument('[token-id]', 'a TOKEN ID from memory tokens list')
    .option('--client <client-id>', 'revoke every token of this client')
    .option('--all', 'revoke every token')
    .action(async (tokenId: string | undefined, options: { client?: string; all?: boolean }) => {
      const config = configOrExit();
      const { runTokensCommand } = await import('./tokens.js');
      process.exitCode = await runTokensCommand(config, {
        kind: 'revoke',
        tokenId,
        clientId: options.client,
        all: options.all === true,
      });
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      process.exitCode = 2;
      return;
    }
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every usage error (unknown command or option) exits 2.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    log.error(redactUrl(describeError(error)));
    process.exitCode = 1;
  }
}

await main(process.argv);
