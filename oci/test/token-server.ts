import "reflect-metadata";
import { randomUUID, webcrypto } from "node:crypto";
import { createServer, type Server } from "node:http";
import * as x509 from "@peculiar/x509";
import { SignJWT } from "jose";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * A token server of the test's own, speaking the distribution token protocol: GET /token with
 * service and scope (and Basic credentials) answers a JWT (ES256, x5c = its self-signed
 * certificate) granting the requested repository actions. The real registry is configured to
 * trust the certificate, so this exercises the bearer flow end to end against distribution.
 */
export interface TokenServer {
  realm: string;
  host: string;
  service: string;
  issuer: string;
  rootCertPem: string;
  /** Token requests answered (any outcome). */
  requests: Array<{ scope: string | null; user: string | null }>;
  close(): Promise<void>;
}

export async function startTokenServer(users: Record<string, string>, expiresIn = 300): Promise<TokenServer> {
  const service = "propeller-test-registry";
  const issuer = "propeller-test-token-issuer";
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=propeller test token issuer",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true)],
  });
  const x5c = [Buffer.from(cert.rawData).toString("base64")];
  const requests: TokenServer["requests"] = [];

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const scope = url.searchParams.get("scope");
    let user: string | null = null;
    const header = req.headers.authorization;
    if (header?.startsWith("Basic ")) {
      const [u, ...p] = Buffer.from(header.slice(6), "base64").toString().split(":");
      if (u && users[u] !== undefined && users[u] === p.join(":")) user = u;
      else {
        requests.push({ scope, user: u ?? null });
        res.writeHead(401).end();
        return;
      }
    }
    requests.push({ scope, user });
    if (url.pathname !== "/token" || url.searchParams.get("service") !== service || !user) {
      res.writeHead(401).end();
      return;
    }
    const access = [];
    const m = scope ? /^repository:([^:]+):(.+)$/.exec(scope) : null;
    if (m) access.push({ type: "repository", name: m[1], actions: m[2]!.split(",") });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: "ES256", typ: "JWT", x5c })
      .setIssuer(issuer)
      .setSubject(user)
      .setAudience(service)
      .setIssuedAt(now)
      .setNotBefore(now - 10)
      .setExpirationTime(now + expiresIn)
      .setJti(randomUUID())
      .sign(keys.privateKey);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    host: `127.0.0.1:${port}`,
    service,
    issuer,
    rootCertPem: cert.toString("pem"),
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
