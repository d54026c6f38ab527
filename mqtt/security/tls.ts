import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TlsOptions } from "node:tls";
import { CA_CERT_FILE, CRL_FILE } from "../../certs/index.js";
import { createBrokerSecurity, type BrokerSecurity, type BrokerSecurityOptions, type SecurityHooks } from "./aedes-hooks.js";
import { BrokerConfigError } from "./mosquitto-config.js";

export interface BrokerTlsOptions {
  /** Base name of the broker's server certificate in the certs directory (default "broker"). */
  serverName?: string;
  /**
   * Let clients without a certificate complete the handshake so that they can log in with
   * credentials. A certificate that is presented must still verify (the hooks refuse it otherwise).
   */
  allowCredentialClients?: boolean;
}

async function read(path: string, serverName: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    throw new BrokerConfigError(`${path} is missing: run \`propeller certs init\` and \`propeller certs issue server ${serverName}\``);
  }
}

/**
 * TLS settings for the embedded broker from a certs directory: our CA as the only trust anchor,
 * the broker's chain and key, client certificates requested and (by default) required.
 */
export async function brokerTlsOptions(certsDir: string, options: BrokerTlsOptions = {}): Promise<TlsOptions> {
  const name = options.serverName ?? "broker";
  const crlPath = join(certsDir, CRL_FILE);
  const hasCrl = await access(crlPath).then(
    () => true,
    () => false,
  );
  return {
    ca: await read(join(certsDir, CA_CERT_FILE), name),
    // Revoked client certificates are refused by the TLS layer (read at start: restart to reload).
    ...(hasCrl ? { crl: await read(crlPath, name) } : {}),
    cert: await read(join(certsDir, `${name}-chain.pem`), name),
    key: await read(join(certsDir, `${name}.key`), name),
    requestCert: true,
    rejectUnauthorized: options.allowCredentialClients !== true,
    minVersion: "TLSv1.2",
  };
}

/**
 * Everything `startEmbeddedBroker` needs to run confined: `{ tls, hooks }` from a certs directory.
 * Credentials (if given) switch the listener to "certificate requested, not required"; the hooks
 * then insist on either a verified certificate or valid credentials.
 */
export async function secureEmbeddedBrokerOptions(
  certsDir: string,
  options: BrokerSecurityOptions & Pick<BrokerTlsOptions, "serverName"> = {},
): Promise<{ tls: TlsOptions; hooks: SecurityHooks; security: BrokerSecurity }> {
  const { serverName, ...securityOptions } = options;
  const tls = await brokerTlsOptions(certsDir, {
    ...(serverName !== undefined ? { serverName } : {}),
    allowCredentialClients: options.credentials !== undefined && options.credentials.size > 0,
  });
  const security = createBrokerSecurity(securityOptions);
  return { tls, hooks: security.hooks, security };
}
