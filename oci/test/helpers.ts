import { randomBytes } from "node:crypto";

/** A valid core Wasm module: the header plus one custom section of `payloadBytes` random bytes. */
export function wasmModule(payloadBytes = 64): Uint8Array {
  const name = Buffer.from("propeller-test");
  const payload = randomBytes(payloadBytes);
  const body = Buffer.concat([leb128(name.length), name, payload]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00]), leb128(body.length), body]));
}

function leb128(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}
