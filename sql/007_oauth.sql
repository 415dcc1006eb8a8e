-- OAuth 2.1: the server is its own authorization server for /mcp (on when MCP_PUBLIC_URL and
-- MCP_OWNER_SECRET are set). Nothing secret is stored in clear: client secrets, authorization
-- codes, CSRF tokens and access and refresh tokens are kept as sha256 hex digests, so a copy of
-- the database (a backup, a dump) does not let anyone call /mcp.

-- Clients registered through /register (RFC 7591).
CREATE TABLE oauth_client (
  client_id                  text        PRIMARY KEY,
  client_secret_hash         text,
  client_name                text,
  redirect_uris              text[]      NOT NULL CHECK (cardinality(redirect_uris) >= 1),
  grant_types                text[]      NOT NULL,
  token_endpoint_auth_method text        NOT NULL
                             CHECK (token_endpoint_auth_method IN ('none', 'client_secret_post', 'client_secret_basic')),
  scope                      text,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  CHECK ((token_endpoint_auth_method = 'none') = (client_secret_hash IS NULL))
);

-- A request waiting on the consent page. The page carries request_id and a CSRF token; only the
-- token's digest is kept. Rows live for minutes and are deleted when answered.
CREATE TABLE oauth_authorization_request (
  request_id            text        PRIMARY KEY,
  csrf_token_hash       text        NOT NULL,
  client_id             text        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
  redirect_uri          text        NOT NULL,
  redirect_uri_explicit boolean     NOT NULL,
  code_challenge        text        NOT NULL,
  resource              text        NOT NULL,
  scope                 text        NOT NULL,
  state                 text,
  expires_at            timestamptz NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_authorization_request_expires_idx ON oauth_authorization_request (expires_at);

-- One approval by the owner. Its code and every token descending from it (refresh rotations
-- included) carry its id, so a reused code or a replayed refresh token revokes the whole family.
-- owner_fingerprint is an HMAC of the owner secret it was approved with: changing
-- MCP_OWNER_SECRET ends every grant, which is how the embedded mode, whose database no other
-- process can open, revokes everything.
CREATE TABLE oauth_grant (
  grant_id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  client_id         text        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
  resource          text        NOT NULL,
  scope             text        NOT NULL,
  owner_fingerprint text        NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  revoked_at        timestamptz
);
CREATE INDEX oauth_grant_client_idx ON oauth_grant (client_id);

-- Authorization codes: single use (used_at), short-lived, bound to the client, the redirect URI
-- and the PKCE S256 challenge.
CREATE TABLE oauth_authorization_code (
  code_hash             text        PRIMARY KEY,
  grant_id              uuid        NOT NULL REFERENCES oauth_grant ON DELETE CASCADE,
  client_id             text        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
  redirect_uri          text        NOT NULL,
  redirect_uri_explicit boolean     NOT NULL,
  code_challenge        text        NOT NULL,
  expires_at            timestamptz NOT NULL,
  used_at               timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_authorization_code_grant_idx ON oauth_authorization_code (grant_id);

-- Access and refresh tokens, bound to the resource (RFC 8707) they were issued for.
CREATE TABLE oauth_token (
  token_id   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash text        NOT NULL UNIQUE,
  kind       text        NOT NULL CHECK (kind IN ('access', 'refresh')),
  grant_id   uuid        NOT NULL REFERENCES oauth_grant ON DELETE CASCADE,
  client_id  text        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
  resource   text        NOT NULL,
  scope      text        NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_token_grant_idx ON oauth_token (grant_id);
-- `memory tokens list` and the sweep of old rows read live or expired tokens by expiry.
CREATE INDEX oauth_token_expires_idx ON oauth_token (expires_at);

-- Wrong owner secrets on the consent page, per client address and in total; a key past its
-- limit is locked until locked_until. In Postgres, so every replica and a restart see the same
-- count.
CREATE TABLE oauth_consent_failure (
  limit_key         text        PRIMARY KEY,
  failures          integer     NOT NULL CHECK (failures >= 0),
  window_started_at timestamptz NOT NULL,
  locked_until      timestamptz
);
