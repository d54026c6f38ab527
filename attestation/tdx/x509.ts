// @peculiar/x509, set up once in lib/x509.ts, with the names the TDX modules use.
import { x509 } from "../../lib/x509.js";

export const { X509Certificate, X509Crl } = x509;
export type X509Crl = x509.X509Crl;
export { x509 };
