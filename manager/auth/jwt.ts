/**
 * Bearer JWTs from one configured issuer: signature (RS256, ES256 or EdDSA) against the issuer's
 * JWKS (fetched from `jwksUrl` and cached by jose through lib/jwks.ts's bounded fetch, or given inline), `iss`, `aud` and `exp` all
 * required and checked. Scopes come from the space-separated `scope` claim; unknown ones grant nothing.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet } from "jose";
import { remoteJwks } from "../../lib/jwks.js";
import { AuthUnavailableError, UnauthorizedError } from "../errors.js";
import { isScope, type Scope } from "./scopes.js";

export interface JwtSettings {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  jwks?: { keys: object[] };
}

export interface JwtPrincipal {
  subject: string;
  scopes: Scope[];
}

const ALGORITHMS = ["RS256", "ES256", "EdDSA"];

export function jwtVerifier(settings: JwtSettings): (token: string) => Promise<JwtPrincipal> {
  const keys = settings.jwks
    ? createLocalJWKSet(settings.jwks as JSONWebKeySet)
    : remoteJwks(settings.jwksUrl!, { timeoutMs: 5_000, cooldownMs: 30_000, cacheMaxAgeMs: 10 * 60_000 });
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp"],
        clockTolerance: 30,
      });
      const scopes = typeof payload.scope === "string" ? payload.scope.split(" ").filter(isScope) : [];
      return { subject: typeof payload.sub === "string" ? payload.sub.slice(0, 200) : "(no sub)", scopes };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new UnauthorizedError("expired_credentials", "the bearer token has expired; get a new one from your issuer");
      // The issuer's keys could not be fetched: not the caller's fault, so not a failed authentication.
      if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
        throw new AuthUnavailableError("the token issuer's keys cannot be fetched right now; try again shortly");
      }
      throw new UnauthorizedError("invalid_credentials", `the bearer token is not valid here: ${err.message}`);
    }
  };
}
