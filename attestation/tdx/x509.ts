// @peculiar/x509 needs reflect-metadata loaded first and a WebCrypto provider; do both once here so
// every TDX module imports a ready library.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const { X509Certificate, X509Crl } = x509;
export type X509Crl = x509.X509Crl;
export { x509 };
