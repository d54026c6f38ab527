// The one setup of @peculiar/x509, the repository's X.509 library (certificates, CRLs, chains):
// reflect-metadata loaded first, and Node's WebCrypto as its provider. Node's webcrypto is the
// object the DOM `Crypto` type describes, which our lib (no DOM) does not declare — hence the cast.
// Import x509 from here (or a box's own re-export of it), never from "@peculiar/x509" directly.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
