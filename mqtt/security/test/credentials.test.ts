import { describe, expect, it } from "vitest";
import { CredentialError, DUMMY_HASH, credentialsFrom, generatePassword, hashPassword, verifyPassword } from "../credentials.js";

describe("broker credentials (scrypt)", () => {
  it("hashes with a random salt and verifies only the right password", async () => {
    const password = generatePassword();
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const a = await hashPassword(password);
    const b = await hashPassword(password);
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b); // salted
    expect(a).not.toContain(password);
    expect(await verifyPassword(password, a)).toBe(true);
    expect(await verifyPassword(Buffer.from(password), b)).toBe(true);
    expect(await verifyPassword(password + "x", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
  });

  it("never verifies against the dummy hash, a malformed hash, or parameters outside its bounds", async () => {
    const password = "a sufficiently long password";
    const good = await hashPassword(password);
    expect(await verifyPassword(password, DUMMY_HASH)).toBe(false);
    expect(await verifyPassword(password, "plain:" + password)).toBe(false);
    expect(await verifyPassword(password, good.replace("scrypt$15$", "scrypt$30$"))).toBe(false); // 2^30: refused, not computed
    expect(await verifyPassword(password, good.replace("scrypt$15$", "scrypt$14$"))).toBe(false); // other params: other key
    expect(await verifyPassword("x".repeat(2000), good)).toBe(false);
  });

  it("refuses short passwords", async () => {
    await expect(hashPassword("short")).rejects.toBeInstanceOf(CredentialError);
  });

  it("loads only proplet ids mapped to scrypt hashes", async () => {
    const hash = await hashPassword("a sufficiently long password");
    expect(credentialsFrom({ p1: hash }).get("p1")).toBe(hash);
    expect(() => credentialsFrom({ manager: hash })).toThrow(CredentialError);
    expect(() => credentialsFrom({ "a/b": hash })).toThrow(CredentialError);
    expect(() => credentialsFrom({ p1: "secret" })).toThrow(CredentialError);
    expect(() => credentialsFrom({ p1: 42 })).toThrow(CredentialError);
    expect(() => credentialsFrom([hash])).toThrow(CredentialError);
  });
});
