/**
 * OAuth storage (sql/007_oauth.sql): registered clients, requests waiting on the consent page,
 * grants (one per approval), single-use authorization codes, access and refresh tokens, and the
 * consent page's failure counters.
 *
 * Every secret arrives here already hashed (sha256 hex); nothing in this file sees a token.
 * Expiry is always compared with the database's `now()`, never the caller's clock, so every
 * replica agrees on what is live.
 */
import type { Sql, Tx } from './connect.js';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

export interface ClientRow {
  client_id: string;
  client_secret_hash: string | null;
  client_name: string | null;
  redirect_uris: string[];
  grant_types: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  scope: string | null;
  created_at: Date;
}

/** Stores a registered client (its secret, if any, already hashed). */
export async function insertClient(sql: Sql, client: Omit<ClientRow, 'created_at'>): Promise<ClientRow> {
  const [row] = await sql<ClientRow[]>`
    insert into oauth_client (client_id, client_secret_hash, client_name, redirect_uris, grant_types,
                              token_endpoint_auth_method, scope)
    values (${client.client_id}, ${client.client_secret_hash}, ${client.client_name},
            ${client.redirect_uris}, ${client.grant_types}, ${client.token_endpoint_auth_method}, ${client.scope})
    returning *`;
  return row!;
}

/** A registered client, or undefined. */
export async function findClient(sql: Sql, clientId: string): Promise<ClientRow | undefined> {
  const [row] = await sql<ClientRow[]>`select * from oauth_client where client_id = ${clientId}`;
  return row;
}

/**
 * Deletes clients that registered more than `olderThanSeconds` ago and were never approved and
 * have no request on the consent page: /register is open to anyone (RFC 7591 and the MCP
 * specification expect that), so registrations that lead nowhere must not pile up.
 */
export async function deleteAbandonedClients(sql: Sql, olderThanSeconds: number): Promise<number> {
  const deleted = await sql`
    delete from oauth_client c
    where c.created_at < now() - make_interval(secs => ${olderThanSeconds})
      and not exists (select 1 from oauth_grant g where g.client_id = c.client_id)
      and not exists (select 1 from oauth_authorization_request r where r.client_id = c.client_id)`;
  return deleted.count;
}

export interface AuthorizationRequestRow {
  request_id: string;
  csrf_token_hash: string;
  client_id: string;
  redirect_uri: string;
  redirect_uri_explicit: boolean;
  code_challenge: string;
  resource: string;
  scope: string;
  state: string | null;
  expires_at: Date;
}

/** Stores a request for the consent page; expired requests are swept on the way. */
export async function insertAuthorizationRequest(
  sql: Sql,
  request: Omit<AuthorizationRequestRow, 'expires_at'>,
  ttlSeconds: number,
): Promise<AuthorizationRequestRow> {
  // oauth_authorization_request_expires_idx: the sweep reads only expired rows.
  await sql`delete from oauth_authorization_request where expires_at < now()`;
  const [row] = await sql<AuthorizationRequestRow[]>`
    insert into oauth_authorization_request (request_id, csrf_token_hash, client_id, redirect_uri,
      redirect_uri_explicit, code_challenge, resource, scope, state, expires_at)
    values (${request.request_id}, ${request.csrf_token_hash}, ${request.client_id}, ${request.redirect_uri},
      ${request.redirect_uri_explicit}, ${request.code_challenge}, ${request.resource}, ${request.scope},
      ${request.state}, now() + make_interval(secs => ${ttlSeconds}))
    returning *`;
  return row!;
}

/** A request still waiting on the consent page, or undefined when unknown, answered or expired. */
export async function findAuthorizationRequest(
  sql: Sql,
  requestId: string,
): Promise<AuthorizationRequestRow | undefined> {
  const [row] = await sql<AuthorizationRequestRow[]>`
    select * from oauth_authorization_request where request_id = ${requestId} and expires_at > now()`;
  return row;
}

/** Removes a request (the owner denied it); true when it was still waiting. */
export async function deleteAuthorizationRequest(sql: Sql, requestId: string): Promise<boolean> {
  const deleted = await sql`
    delete from oauth_authorization_request where request_id = ${requestId} and expires_at > now()`;
  return deleted.count > 0;
}

/**
 * The owner approved: in one transaction the request is taken (deleted, so a second submission
 * of the same form finds nothing), a grant is created and its authorization code stored.
 * Undefined when the request was no longer waiting.
 */
export async function approveAuthorizationRequest(
  sql: Sql,
  requestId: string,
  codeHash: string,
  codeTtlSeconds: number,
  ownerFingerprint: string,
): Promise<{ request: AuthorizationRequestRow; grantId: string } | undefined> {
  return sql.begin(async (tx) => {
    const [request] = await tx<AuthorizationRequestRow[]>`
      delete from oauth_authorization_request
      where request_id = ${requestId} and expires_at > now()
      returning *`;
    if (request === undefined) return undefined;
    const [grant] = await tx<Array<{ grant_id: string }>>`
      insert into oauth_grant (client_id, resource, scope, owner_fingerprint)
      values (${request.client_id}, ${request.resource}, ${request.scope}, ${ownerFingerprint})
      returning grant_id`;
    await tx`
      insert into oauth_authorization_code (code_hash, grant_id, client_id, redirect_uri,
        redirect_uri_explicit, code_challenge, expires_at)
      values (${codeHash}, ${grant!.grant_id}, ${request.client_id}, ${request.redirect_uri},
        ${request.redirect_uri_explicit}, ${request.code_challenge},
        now() + make_interval(secs => ${codeTtlSeconds}))`;
    return { request, grantId: grant!.grant_id };
  });
}

export interface CodeRow {
  grant_id: string;
  owner_fingerprint: string;
  client_id: string;
  redirect_uri: string;
  redirect_uri_explicit: boolean;
  code_challenge: string;
  resource: string;
  scope: string;
}

export type ConsumedCode =
  | { status: 'ok'; code: CodeRow }
  | { status: 'expired' }
  /** Presented before: every token issued from it has just been revoked (OAuth 2.1 §4.1.3). */
  | { status: 'reused'; revokedTokens: number }
  | { status: 'unknown' };

/**
 * Marks a code used and returns what it was issued for. One UPDATE guarded by `used_at is null`
 * decides, so two requests racing with the same code cannot both get it. The code is spent even
 * when the caller then refuses the exchange (wrong verifier, client or redirect URI): a code
 * that someone else presented is not worth keeping.
 */
export async function consumeAuthorizationCode(sql: Sql, codeHash: string): Promise<ConsumedCode> {
  return sql.begin(async (tx) => {
    const [row] = await tx<Array<CodeRow & { live: boolean }>>`
      update oauth_authorization_code c
      set used_at = now()
      from oauth_grant g
      where c.code_hash = ${codeHash} and c.used_at is null and g.grant_id = c.grant_id
      returning c.grant_id, c.client_id, c.redirect_uri, c.redirect_uri_explicit, c.code_challenge,
                g.resource, g.scope, g.owner_fingerprint,
                (c.expires_at > now() and g.revoked_at is null) as live`;
    if (row !== undefined) {
      const { live, ...code } = row;
      return live ? { status: 'ok', code } : { status: 'expired' };
    }
    const [spent] = await tx<Array<{ grant_id: string }>>`
      select grant_id from oauth_authorization_code where code_hash = ${codeHash}`;
    if (spent === undefined) return { status: 'unknown' };
    return { status: 'reused', revokedTokens: await revokeGrantIn(tx, spent.grant_id) };
  });
}

export interface NewToken {
  hash: string;
  kind: 'access' | 'refresh';
  ttlSeconds: number;
}

export interface TokenGrant {
  grantId: string;
  clientId: string;
  resource: string;
  scope: string;
}

async function insertTokensIn(sql: Sql | Tx, grant: TokenGrant, tokens: readonly NewToken[]): Promise<void> {
  for (const token of tokens) {
    await sql`
      insert into oauth_token (token_hash, kind, grant_id, client_id, resource, scope, expires_at)
      values (${token.hash}, ${token.kind}, ${grant.grantId}, ${grant.clientId}, ${grant.resource},
              ${grant.scope}, now() + make_interval(secs => ${token.ttlSeconds}))`;
  }
}

/** Stores the tokens of a fresh code exchange, together. */
export async function insertTokens(sql: Sql, grant: TokenGrant, tokens: readonly NewToken[]): Promise<void> {
  await sql.begin((tx) => insertTokensIn(tx, grant, tokens));
}

export interface TokenRow {
  token_id: string;
  kind: 'access' | 'refresh';
  grant_id: string;
  client_id: string;
  resource: string;
  scope: string;
  expires_at: Date;
  revoked_at: Date | null;
  /** Not revoked, not expired, and its grant not revoked. */
  live: boolean;
  /** Of the owner secret its grant was approved with; a token of another secret is dead. */
  owner_fingerprint: string;
}

/** A token by its digest, live or not (the caller tells an expired token from a replayed one). */
export async function findToken(
  sql: Sql,
  tokenHash: string,
  kind: 'access' | 'refresh',
): Promise<TokenRow | undefined> {
  // oauth_token's unique index on token_hash.
  const [row] = await sql<TokenRow[]>`
    select t.token_id, t.kind, t.grant_id, t.client_id, t.resource, t.scope, t.expires_at, t.revoked_at,
           (t.revoked_at is null and t.expires_at > now() and g.revoked_at is null) as live,
           g.owner_fingerprint
    from oauth_token t join oauth_grant g using (grant_id)
    where t.token_hash = ${tokenHash} and t.kind = ${kind}`;
  return row;
}

/**
 * Refresh token rotation: revokes the presented refresh token and stores its successors, in one
 * transaction. False when the token was no longer live by then (a concurrent rotation won); the
 * caller treats that as a replay.
 */
export async function rotateRefreshToken(
  sql: Sql,
  tokenId: string,
  grant: TokenGrant,
  tokens: readonly NewToken[],
): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rotated = await tx`
      update oauth_token set revoked_at = now()
      where token_id = ${tokenId} and revoked_at is null and expires_at > now()`;
    if (rotated.count === 0) return false;
    await insertTokensIn(tx, grant, tokens);
    return true;
  });
}

async function revokeGrantIn(sql: Sql | Tx, grantId: string): Promise<number> {
  await sql`update oauth_grant set revoked_at = coalesce(revoked_at, now()) where grant_id = ${grantId}`;
  const revoked = await sql<Array<{ live: boolean }>>`
    update oauth_token set revoked_at = now() where grant_id = ${grantId} and revoked_at is null
    returning expires_at > now() as live`;
  return revoked.filter((token) => token.live).length;
}

/** Revokes a grant and every token issued under it; returns how many of them were live. */
export async function revokeGrant(sql: Sql, grantId: string): Promise<number> {
  return sql.begin((tx) => revokeGrantIn(tx, grantId));
}

/**
 * Revokes the grant a token belongs to: its access and refresh tokens go together, since a
 * refresh token left alive would mint a new access token. Undefined when no such token exists.
 */
export async function revokeTokenById(sql: Sql, tokenId: string): Promise<number | undefined> {
  return sql.begin(async (tx) => {
    const [token] = await tx<Array<{ grant_id: string }>>`
      select grant_id from oauth_token where token_id = ${tokenId}`;
    if (token === undefined) return undefined;
    return revokeGrantIn(tx, token.grant_id);
  });
}

/** Revokes every grant of a client; returns how many live tokens it had, undefined for an unknown client. */
export async function revokeClientTokens(sql: Sql, clientId: string): Promise<number | undefined> {
  return sql.begin(async (tx) => {
    const [client] = await tx`select 1 from oauth_client where client_id = ${clientId}`;
    if (client === undefined) return undefined;
    await tx`update oauth_grant set revoked_at = now() where client_id = ${clientId} and revoked_at is null`;
    const revoked = await tx`
      update oauth_token set revoked_at = now()
      where client_id = ${clientId} and revoked_at is null and expires_at > now()`;
    return revoked.count;
  });
}

/** Revokes every grant; returns how many live tokens there were. */
export async function revokeAllTokens(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`update oauth_grant set revoked_at = now() where revoked_at is null`;
    const revoked =
      await tx`update oauth_token set revoked_at = now() where revoked_at is null and expires_at > now()`;
    return revoked.count;
  });
}

export interface ClientSummary {
  client_id: string;
  client_name: string | null;
  redirect_uris: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  created_at: Date;
  live_tokens: number;
}

/** Every registered client with its count of live tokens, oldest first. */
export async function listClients(sql: Sql): Promise<ClientSummary[]> {
  return sql<ClientSummary[]>`
    select c.client_id, c.client_name, c.redirect_uris, c.token_endpoint_auth_method, c.created_at,
           (select count(*)::int from oauth_token t
            where t.client_id = c.client_id and t.revoked_at is null and t.expires_at > now()) as live_tokens
    from oauth_client c
    order by c.created_at`;
}

export interface LiveToken {
  token_id: string;
  kind: 'access' | 'refresh';
  client_id: string;
  client_name: string | null;
  grant_id: string;
  resource: string;
  scope: string;
  created_at: Date;
  expires_at: Date;
}

/**
 * Tokens that /mcp or /token would accept now. Never the token values: only digests are stored.
 * With the current owner secret's fingerprint, tokens approved under an older secret are left
 * out; without it (the secret is not configured where this runs) they cannot be told apart.
 */
export async function listLiveTokens(sql: Sql, ownerFingerprint?: string): Promise<LiveToken[]> {
  return sql<LiveToken[]>`
    select t.token_id, t.kind, t.client_id, c.client_name, t.grant_id, t.resource, t.scope,
           t.created_at, t.expires_at
    from oauth_token t
    join oauth_client c using (client_id)
    join oauth_grant g using (grant_id)
    where t.revoked_at is null and t.expires_at > now() and g.revoked_at is null
      and (${ownerFingerprint ?? null}::text is null or g.owner_fingerprint = ${ownerFingerprint ?? null})
    order by t.created_at, t.kind`;
}

/**
 * Deletes what can no longer be used: codes a day past expiry (kept that long so a late replay
 * is still recognised and revokes its tokens), tokens a week past expiry, grants left with
 * neither, and failure counters of a day ago. Runs when a code is issued, which is rare, so no
 * sweeper process is needed.
 */
export async function sweepExpiredOAuthRows(sql: Sql): Promise<void> {
  await sql`
    delete from oauth_consent_failure
    where window_started_at < now() - interval '1 day' and (locked_until is null or locked_until < now())`;
  await sql`delete from oauth_authorization_code where expires_at < now() - interval '1 day'`;
  // oauth_token_expires_idx
  await sql`delete from oauth_token where expires_at < now() - interval '7 days'`;
  await sql`
    delete from oauth_grant g
    where g.created_at < now() - interval '1 day'
      and not exists (select 1 from oauth_token t where t.grant_id = g.grant_id)
      and not exists (select 1 from oauth_authorization_code c where c.grant_id = g.grant_id)`;
}

export interface FailureLimit {
  /** Failures allowed within the window before the key is locked. */
  max: number;
  windowSeconds: number;
  lockSeconds: number;
}

/** The latest lock among `keys` that is still in force, or undefined. */
export async function consentLockedUntil(sql: Sql, keys: readonly string[]): Promise<Date | undefined> {
  const [row] = await sql<Array<{ until: Date | null }>>`
    select max(locked_until) as until from oauth_consent_failure
    where limit_key = any(${keys as string[]}) and locked_until > now()`;
  return row?.until ?? undefined;
}

/**
 * Counts one wrong owner secret against `key`. A window that ended starts over; the failure that
 * reaches `limit.max` locks the key for `limit.lockSeconds` and resets its count. Returns the
 * failures counted in the current window and the lock when one was set.
 */
export async function recordConsentFailure(
  sql: Sql,
  key: string,
  limit: FailureLimit,
): Promise<{ failures: number; lockedUntil: Date | undefined }> {
  return sql.begin(async (tx) => {
    const [counted] = await tx<Array<{ failures: number }>>`
      insert into oauth_consent_failure as f (limit_key, failures, window_started_at)
      values (${key}, 1, now())
      on conflict (limit_key) do update set
        failures = case when f.window_started_at < now() - make_interval(secs => ${limit.windowSeconds})
                        then 1 else f.failures + 1 end,
        window_started_at = case when f.window_started_at < now() - make_interval(secs => ${limit.windowSeconds})
                                 then now() else f.window_started_at end
      returning failures`;
    const failures = counted!.failures;
    if (failures < limit.max) return { failures, lockedUntil: undefined };
    const [locked] = await tx<Array<{ locked_until: Date }>>`
      update oauth_consent_failure
      set locked_until = now() + make_interval(secs => ${limit.lockSeconds}), failures = 0,
          window_started_at = now()
      where limit_key = ${key}
      returning locked_until`;
    return { failures, lockedUntil: locked!.locked_until };
  });
}

/** Forgets the failures of `key` (the right secret was given from there). */
export async function clearConsentFailures(sql: Sql, key: string): Promise<void> {
  await sql`delete from oauth_consent_failure where limit_key = ${key} and (locked_until is null or locked_until <= now())`;
}
