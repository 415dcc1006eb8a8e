/**
 * The few cryptographic operations OAuth needs: unguessable values, their digests for storage,
 * constant-time comparison of secrets, and the PKCE S256 transform.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes (256 bits) as base64url, after a readable prefix that secret scanners can match. */
export function randomToken(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** The sha256 hex digest under which a token, code or secret is stored and looked up. */
export function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Whether two secrets are equal, in time that does not depend on where they differ. Both sides
 * are hashed first so that their lengths, which `timingSafeEqual` requires to be equal, reveal
 * nothing either.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** A base64url sha256: 43 characters, no padding. */
const S256_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

/** Whether a code_challenge has the shape of an S256 one. */
export function isS256Challenge(value: string): boolean {
  return S256_CHALLENGE.test(value);
}

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the challenge of the request. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false;
  return secretsEqual(createHash('sha256').update(verifier).digest('base64url'), challenge);
}

/**
 * A stable fingerprint of the owner secret, stored with each grant: a grant approved under
 * another secret is no longer honoured, so changing MCP_OWNER_SECRET revokes every token. Keyed
 * by the secret, so the stored value is no plain hash of it; anyone who can read the database
 * could read the memories themselves anyway.
 */
export function ownerFingerprint(ownerSecret: string): string {
  return createHmac('sha256', ownerSecret).update('memory oauth grant').digest('hex');
}
