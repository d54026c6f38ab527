import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

// @peculiar/x509 needs a WebCrypto provider; Node's is the same object the DOM `Crypto` type
// describes, which our lib (no DOM) does not declare — hence the cast.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
