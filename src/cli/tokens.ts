/**
 * `memory tokens list` and `memory tokens revoke <id> | --client <client_id> | --all`: the
 * owner's view of who was approved through OAuth, and the way to take it back. Token values are
 * never shown (only their digests are stored); a token is named by its id.
 */
import type { Config } from '../config.js';
import { describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { ownerFingerprint } from '../server/oauth/crypto.js';
import { connect } from '../store/connect.js';
import {
  listClients,
  listLiveTokens,
  revokeAllTokens,
  revokeClientTokens,
  revokeTokenById,
} from '../store/oauth.js';

const logger = taggedLogger('tokens');

export type TokensAction =
  | { kind: 'list'; json: boolean }
  | { kind: 'revoke'; tokenId?: string; clientId?: string; all: boolean };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd())
    .join('\n');
}

function redirectHosts(uris: string[]): string {
  return uris
    .map((uri) => {
      try {
        const url = new URL(uri);
        return url.protocol === 'https:' || url.protocol === 'http:'
          ? url.host
          : `${url.protocol}//${url.host}`;
      } catch {
        return uri;
      }
    })
    .join(',');
}

/** Returns the exit code: 0 done, 1 failed or nothing found to revoke, 2 bad usage. */
export async function runTokensCommand(config: Config, action: TokensAction): Promise<number> {
  if (config.databaseUrl === undefined) {
    process.stderr.write(
      'memory: EVENTS_DB_DSN is not set: expected the postgres:// URL of the database the server keeps its OAuth clients and tokens in\n',
    );
    return 2;
  }
  if (action.kind === 'revoke') {
    const chosen = [action.tokenId !== undefined, action.clientId !== undefined, action.all].filter(Boolean);
    if (chosen.length !== 1) {
      process.stderr.write(
        'memory: tokens revoke takes exactly one of: <token-id>, --client <client-id>, --all\n',
      );
      return 2;
    }
    if (action.tokenId !== undefined && !UUID.test(action.tokenId)) {
      process.stderr.write(
        `memory: ${JSON.stringify(action.tokenId)} is not a token id: expected a UUID from memory tokens list\n`,
      );
      return 2;
    }
  }
  const sql = connect(config.databaseUrl, { max: 1, applicationName: 'memory-tokens' });
  try {
    if (action.kind === 'list') {
      const owner = config.oauth ? ownerFingerprint(config.oauth.ownerSecret) : undefined;
      return await list(sql, action.json, owner);
    }
    return await revoke(sql, action);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42P01') {
      logger.error('The OAuth tables do not exist yet: run memory migrate first');
    } else {
      logger.error(`tokens failed: ${describeError(error)}`);
    }
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function list(
  sql: ReturnType<typeof connect>,
  json: boolean,
  owner: string | undefined,
): Promise<number> {
  const [clients, tokens] = await Promise.all([listClients(sql), listLiveTokens(sql, owner)]);
  if (json) {
    process.stdout.write(`${JSON.stringify({ clients, tokens }, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`Clients (${clients.length})`);
  if (clients.length > 0) {
    out.push(
      table([
        ['CLIENT ID', 'NAME', 'AUTH', 'REGISTERED', 'LIVE TOKENS', 'REDIRECTS TO'],
        ...clients.map((client) => [
          client.client_id,
          client.client_name ?? '-',
          client.token_endpoint_auth_method,
          client.created_at.toISOString(),
          String(client.live_tokens),
          redirectHosts(client.redirect_uris),
        ]),
      ]),
    );
  }
  out.push('', `Live tokens (${tokens.length})`);
  if (tokens.length > 0) {
    out.push(
      table([
        ['TOKEN ID', 'KIND', 'CLIENT', 'ISSUED', 'EXPIRES'],
        ...tokens.map((token) => [
          token.token_id,
          token.kind,
          token.client_name ?? token.client_id,
          token.created_at.toISOString(),
          token.expires_at.toISOString(),
        ]),
      ]),
    );
    out.push(
      '',
      'memory tokens revoke <TOKEN ID> ends one approval (its access and refresh tokens together);',
      '--client <CLIENT ID> ends every approval of a client; --all ends them all.',
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

async function revoke(
  sql: ReturnType<typeof connect>,
  action: Extract<TokensAction, { kind: 'revoke' }>,
): Promise<number> {
  let revoked: number | undefined;
  if (action.all) revoked = await revokeAllTokens(sql);
  else if (action.clientId !== undefined) {
    revoked = await revokeClientTokens(sql, action.clientId);
    if (revoked === undefined) {
      process.stderr.write(`memory: no client ${JSON.stringify(action.clientId)} (see memory tokens list)\n`);
      return 1;
    }
  } else {
    revoked = await revokeTokenById(sql, action.tokenId!);
    if (revoked === undefined) {
      process.stderr.write(`memory: no token ${action.tokenId} (see memory tokens list)\n`);
      return 1;
    }
  }
  process.stdout.write(
    `Revoked ${revoked} token${revoked === 1 ? '' : 's'}. A client that was cut off must be approved again on the consent page.\n`,
  );
  return 0;
}
