import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TlsOptions } from "node:tls";
import { CA_CERT_FILE } from "../../certs/ca.js";

export interface BrokerTlsOptions {
  /** Base name of the broker's server certificate in the certs directory (default "broker"). */
  serverName?: string;
  /**
   * Let clients without a certificate complete the handshake so that they can log in with
   * credentials. A certificate that is presented must still verify (the hooks refuse it otherwise).
   */
  allowCredentialClients?: boolean;
}

/**
 * TLS settings for the embedded broker from a certs directory: our CA as the only trust anchor,
 * the broker's chain and key, client certificates requested and (by default) required.
 */
export async function brokerTlsOptions(certsDir: string, options: BrokerTlsOptions = {}): Promise<TlsOptions> {
  const name = options.serverName ?? "broker";
  return {
    ca: await readFile(join(certsDir, CA_CERT_FILE)),
    cert: await readFile(join(certsDir, `${name}-chain.pem`)),
    key: await readFile(join(certsDir, `${name}.key`)),
    requestCert: true,
    rejectUnauthorized: options.allowCredentialClients !== true,
    minVersion: "TLSv1.2",
  };
}
