/**
 * What a recipient token's claims must say, beyond its signature (docs/security.md#recipient-tokens),
 * and the words a refusal uses. Pure functions: auth.ts verifies, these decide and explain.
 *
 * A refusal tells the app's developer which claim to fix (only after the signature held, so a
 * forger learns nothing) and never echoes a claim's value.
 */
import { errors, type JWTPayload } from 'jose';

/** The expected `aud` and `iss` (each checked only when set) and the longest lifetime, in seconds. */
export interface ClaimRules {
  audience?: string | undefined;
  issuer?: string | undefined;
  maxLifetime: number;
}

/** `requiredClaims` for jose: `exp` is checked here instead, to say exactly what is missing. */
export const REQUIRED_CLAIMS = ['sub'];

/**
 * Why a signed token's lifetime is refused, or undefined. Without `exp` it never ends; with
 * `iat`, `exp - iat` is its lifetime; without `iat` (an unknown start), the time it still has
 * to run is what must fit.
 */
export function lifetimeProblem(
  payload: JWTPayload,
  maxLifetime: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  const { exp, iat } = payload;
  if (typeof exp !== 'number')
    return `the token has no exp claim: sign recipient tokens with an expiry of at most ${maxLifetime} seconds`;
  const lifetime = typeof iat === 'number' ? exp - iat : exp - nowSeconds;
  if (lifetime > maxLifetime)
    return `the token lives longer than ${maxLifetime} seconds (HERALD_JWT_MAX_LIFETIME): sign recipient tokens with a shorter expiry`;
  return undefined;
}

/** The words for a token jose refused (signature, algorithm, expiry, aud, iss). */
export function refusalText(err: unknown): string {
  if (err instanceof errors.JWTExpired)
    return 'the recipient token has expired: ask the app for a fresh one';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud')
      return "the token's aud claim is not this server's audience (HERALD_JWT_AUDIENCE): sign recipient tokens for it";
    if (err.claim === 'iss')
      return "the token's iss claim is not this server's issuer (HERALD_JWT_ISSUER): sign recipient tokens with it";
    if (err.claim === 'sub') return 'the token has no sub claim: put the recipient id in sub';
  }
  return 'the recipient token is invalid or expired';
}
