/** `Authorization: Bearer …` → who is asking and with which scopes (API key or JWT), or UnauthorizedError. */
import { UnauthorizedError } from "../errors.js";
import type { ApiKeys } from "./api-keys.js";
import { jwtVerifier, type JwtSettings } from "./jwt.js";
import { looksLikeApiKey } from "./keys.js";
import type { Scope } from "./scopes.js";

export interface Principal {
  kind: "api-key" | "jwt";
  /** Key id or JWT subject: safe to log. */
  id: string;
  scopes: Scope[];
}

/** Longer headers are not credentials this server issues or accepts. */
const MAX_TOKEN_CHARS = 8192;

export class Authenticator {
  private readonly verifyJwt: ((token: string) => Promise<{ subject: string; scopes: Scope[] }>) | null;

  constructor(
    readonly apiKeys: ApiKeys,
    jwt: JwtSettings | null,
  ) {
    this.verifyJwt = jwt ? jwtVerifier(jwt) : null;
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === "") {
      throw new UnauthorizedError("missing_credentials", "this route needs a bearer credential: send `Authorization: Bearer <API key or token>`");
    }
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match || match[1]!.length > MAX_TOKEN_CHARS) {
      throw new UnauthorizedError("invalid_credentials", "the Authorization header must be `Bearer <API key or token>`");
    }
    const token = match[1]!;
    if (looksLikeApiKey(token)) {
      const record = await this.apiKeys.check(token);
      return { kind: "api-key", id: record.id, scopes: record.scopes };
    }
    if (this.verifyJwt && token.split(".").length === 3) {
      const { subject, scopes } = await this.verifyJwt(token);
      return { kind: "jwt", id: subject, scopes };
    }
    throw new UnauthorizedError("invalid_credentials", "the bearer credential is neither an API key nor a token from the configured issuer");
  }
}
