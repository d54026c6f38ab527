import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertError, initCa, issue, readIdentity, revoke, verifyCertificate, writeCrl, type CertKind } from "../index.js";
import { certsCommand } from "../../cli/commands/certs.js";
import { UsageError } from "../../cli/errors.js";

const run = promisify(execFile);

/** openssl is a test-only oracle here: the product never shells out to it. */
async function openssl(...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run("openssl", args);
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "propeller-certs-"));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe("development CA", () => {
  it("writes ca.pem (0644) and ca.key (0600) with CA:true critical, keyCertSign+cRLSign and a subject key id", async () => {
    const dir = await tempDir();
    const ca = await initCa(dir, { name: "Test CA", lifetimeDays: 30 });
    expect(await mode(ca.keyPath)).toBe(0o600);
    expect(await mode(ca.certPath)).toBe(0o644);
    const text = (await openssl("x509", "-in", ca.certPath, "-noout", "-text")).out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain("X509v3 Subject Key Identifier");
    expect(text).toContain("Subject: CN = Test CA");
    expect(text).toMatch(/ASN1 OID: secp384r1/);
    // The key really is the certificate's key.
    const fromKey = (await openssl("pkey", "-in", ca.keyPath, "-pubout")).out;
    const fromCert = (await openssl("x509", "-in", ca.certPath, "-noout", "-pubkey")).out;
    expect(fromKey).toBe(fromCert);
    // ~30 days, not the 10-year default.
    const lifetime = ca.certificate.notAfter.getTime() - ca.certificate.notBefore.getTime();
    expect(Math.round(lifetime / 86_400_000)).toBe(30);
  });

  it("refuses to replace an existing CA unless forced; forcing invalidates what the old one issued", async () => {
    const dir = await tempDir();
    await initCa(dir);
    const before = await readFile(join(dir, "ca.pem"), "utf8");
    const leaf = await issue(dir, "proplet", "p1");
    const err = await initCa(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertError);
    expect((err as CertError).code).toBe("ca_exists");
    expect(await readFile(join(dir, "ca.pem"), "utf8")).toBe(before);
    await initCa(dir, { force: true });
    expect(await readFile(join(dir, "ca.pem"), "utf8")).not.toBe(before);
    expect((await openssl("verify", "-CAfile", join(dir, "ca.pem"), leaf.certPath)).ok).toBe(false);
  });

  it("refuses to issue without a CA", async () => {
    const dir = await tempDir();
    await expect(issue(dir, "proplet", "p1")).rejects.toMatchObject({ code: "ca_missing" });
  });
});

describe("leaf certificates", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await initCa(dir);
  });

  const kinds: Array<[CertKind, string, string, "sslserver" | "sslclient", string]> = [
    ["server", "broker", "broker", "sslserver", "TLS Web Server Authentication"],
    ["proplet", "p1", "p1", "sslclient", "TLS Web Client Authentication"],
    ["manager-client", "manager-client", "manager", "sslclient", "TLS Web Client Authentication"],
    ["operator", "alice", "operator:alice", "sslclient", "TLS Web Client Authentication"],
  ];

  it.each(kinds)("%s %s: openssl verifies it against ca.pem for its purpose only; EKU, CN, modes", async (kind, name, cn, purpose, eku) => {
    const issued = await issue(dir, kind, name);
    const ca = join(dir, "ca.pem");
    const ok = await openssl("verify", "-CAfile", ca, issued.certPath);
    expect(ok.out).toContain(": OK");
    expect((await openssl("verify", "-CAfile", ca, "-purpose", purpose, issued.certPath)).ok).toBe(true);
    const other = purpose === "sslserver" ? "sslclient" : "sslserver";
    expect((await openssl("verify", "-CAfile", ca, "-purpose", other, issued.certPath)).ok).toBe(false);
    // The chain file verifies as well (leaf first).
    expect((await openssl("verify", "-CAfile", ca, issued.chainPath)).ok).toBe(true);

    const text = (await openssl("x509", "-in", issued.certPath, "-noout", "-text")).out;
    expect(text).toMatch(new RegExp(`X509v3 Extended Key Usage: \\n\\s+${eku}\\n`));
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain("X509v3 Authority Key Identifier");
    expect(text).toContain(`CN = ${cn}`);
    expect(text).toContain(`OU = ${kind}`);
    expect(await mode(issued.keyPath)).toBe(0o600);
    expect(await mode(issued.certPath)).toBe(0o644);
    expect(readIdentity(await readFile(issued.chainPath, "utf8")).commonName).toBe(cn);
    // Serial: 16 random bytes.
    expect(issued.certificate.serialNumber).toMatch(/^[0-9a-f]{32}$/);
  });

  it("server certificates carry localhost, 127.0.0.1, ::1, their own name and extra --san entries", async () => {
    const issued = await issue(dir, "server", "kbs", { sans: ["DNS:kbs.example.test", "IP:10.1.2.3", "manager.local"] });
    const text = (await openssl("x509", "-in", issued.certPath, "-noout", "-ext", "subjectAltName")).out;
    for (const san of ["DNS:kbs", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:kbs.example.test", "IP Address:10.1.2.3", "DNS:manager.local"]) {
      expect(text).toContain(san);
    }
    const id = readIdentity(issued.certificate);
    expect(id.dnsNames).toEqual(["kbs", "localhost", "kbs.example.test", "manager.local"]);
    expect(id.ipAddresses).toEqual(["127.0.0.1", "::1", "10.1.2.3"]);
  });

  it("refuses bad names, SANs on client identities, bad SANs, over-long lives, and overwriting", async () => {
    await expect(issue(dir, "proplet", "manager")).rejects.toMatchObject({ code: "cert_name_invalid" });
    await expect(issue(dir, "proplet", "p/1")).rejects.toMatchObject({ code: "cert_name_invalid" });
    await expect(issue(dir, "proplet", "+")).rejects.toMatchObject({ code: "cert_name_invalid" });
    await expect(issue(dir, "server", "ca")).rejects.toMatchObject({ code: "cert_name_invalid" });
    await expect(issue(dir, "server", "../evil")).rejects.toMatchObject({ code: "cert_name_invalid" });
    await expect(issue(dir, "proplet", "p9", { sans: ["DNS:x"] })).rejects.toMatchObject({ code: "cert_san_invalid" });
    await expect(issue(dir, "server", "s1", { sans: ["IP:300.1.1.1"] })).rejects.toMatchObject({ code: "cert_san_invalid" });
    await expect(issue(dir, "server", "s1", { sans: ["DNS:bad host"] })).rejects.toMatchObject({ code: "cert_san_invalid" });
    await expect(issue(dir, "proplet", "p9", { lifetimeDays: 5000 })).rejects.toMatchObject({ code: "cert_lifetime_invalid" });
    const first = await issue(dir, "proplet", "p2");
    const pem = await readFile(first.certPath, "utf8");
    await expect(issue(dir, "proplet", "p2")).rejects.toMatchObject({ code: "cert_exists" });
    expect(await readFile(first.certPath, "utf8")).toBe(pem);
    const again = await issue(dir, "proplet", "p2", { force: true });
    expect(again.certificate.serialNumber).not.toBe(first.certificate.serialNumber);
  });

  it("refuses a leaf that would outlive the CA", async () => {
    const short = await tempDir();
    await initCa(short, { lifetimeDays: 10 });
    await expect(issue(short, "proplet", "p1")).rejects.toMatchObject({ code: "cert_lifetime_invalid" });
    await expect(issue(short, "proplet", "p1", { lifetimeDays: 5 })).resolves.toBeTruthy();
  });
});

describe("verifyCertificate", () => {
  it("accepts our leaf; names each failing check for another CA's leaf, the wrong purpose, kind and time", async () => {
    const dir = await tempDir();
    const otherDir = await tempDir();
    await initCa(dir);
    await initCa(otherDir);
    const caPem = await readFile(join(dir, "ca.pem"), "utf8");
    const mine = await readFile((await issue(dir, "proplet", "p1")).certPath, "utf8");
    const foreign = await readFile((await issue(otherDir, "proplet", "p1")).certPath, "utf8");

    const good = await verifyCertificate(mine, caPem, { purpose: "clientAuth", kind: "proplet" });
    expect(good.ok).toBe(true);
    expect(good.identity?.commonName).toBe("p1");

    const bad = await verifyCertificate(foreign, caPem);
    expect(bad.ok).toBe(false);
    const failed = bad.checks.filter((c) => !c.ok).map((c) => c.name);
    expect(failed).toEqual(expect.arrayContaining(["cert.signature", "cert.authority-key-id"]));

    const wrongPurpose = await verifyCertificate(mine, caPem, { purpose: "serverAuth", kind: "server" });
    expect(wrongPurpose.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["cert.purpose", "cert.kind"]);

    const later = await verifyCertificate(mine, caPem, { at: new Date(Date.now() + 2 * 365 * 86_400_000) });
    expect(later.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["cert.validity"]);

    const garbage = await verifyCertificate("not a cert", caPem);
    expect(garbage.ok).toBe(false);
    expect(garbage.checks[0]).toMatchObject({ name: "cert.parse", ok: false });
  });
});

describe("mutual TLS with the issued certificates (Node TLS)", () => {
  let dir: string;
  let otherDir: string;
  beforeAll(async () => {
    dir = await tempDir();
    otherDir = await tempDir();
    await initCa(dir);
    await initCa(otherDir);
    await issue(dir, "server", "broker");
    await issue(dir, "proplet", "p1");
    await issue(otherDir, "proplet", "p1");
  });

  const read = (d: string, f: string) => readFile(join(d, f));

  /** A TLS server requiring a client certificate from our CA; reports the peer CN it saw. */
  async function withServer<T>(body: (port: number, seen: string[]) => Promise<T>): Promise<T> {
    const seen: string[] = [];
    const server = createServer(
      { cert: await read(dir, "broker.pem"), key: await read(dir, "broker.key"), ca: await read(dir, "ca.pem"), requestCert: true, rejectUnauthorized: true },
      (socket: TLSSocket) => {
        seen.push(String(socket.getPeerCertificate().subject.CN));
        socket.end("hello");
      },
    );
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      return await body(port, seen);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Connects and reads until the server closes: "hello" on success, the error otherwise. */
  function attempt(port: number, client: { cert?: Buffer; key?: Buffer; ca: Buffer; servername?: string }): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, ...client });
      let data = "";
      const timer = setTimeout(() => {
        socket.destroy();
        resolve("timeout");
      }, 5000);
      socket.on("data", (d: Buffer) => (data += d.toString()));
      socket.on("error", (err) => {
        clearTimeout(timer);
        resolve(`error: ${err.message}`);
      });
      socket.on("end", () => {
        clearTimeout(timer);
        resolve(data || "closed without data");
      });
    });
  }

  it("a proplet certificate completes the handshake; the server sees CN=p1", async () => {
    await withServer(async (port, seen) => {
      const reply = await attempt(port, { cert: await read(dir, "p1.pem"), key: await read(dir, "p1.key"), ca: await read(dir, "ca.pem") });
      expect(reply).toBe("hello");
      expect(seen).toEqual(["p1"]);
    });
  });

  it("refuses a client with a certificate from another CA, with none, and with a server certificate", async () => {
    await withServer(async (port, seen) => {
      const ca = await read(dir, "ca.pem");
      const foreign = await attempt(port, { cert: await read(otherDir, "p1.pem"), key: await read(otherDir, "p1.key"), ca });
      expect(foreign).not.toBe("hello");
      const none = await attempt(port, { ca });
      expect(none).not.toBe("hello");
      // serverAuth only: OpenSSL's client-certificate purpose check refuses it.
      const serverAsClient = await attempt(port, { cert: await read(dir, "broker.pem"), key: await read(dir, "broker.key"), ca });
      expect(serverAsClient).not.toBe("hello");
      expect(seen).toEqual([]);
    });
  });

  it("the client refuses a server whose certificate another CA issued", async () => {
    await withServer(async (port) => {
      const reply = await attempt(port, { cert: await read(dir, "p1.pem"), key: await read(dir, "p1.key"), ca: await read(otherDir, "ca.pem") });
      expect(reply).toMatch(/^error: .*(self-signed|unable to verify|certificate)/i);
    });
  });
});

describe("propeller certs (CLI)", () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
  }

  it("init, issue, show and verify; usage errors are UsageError", async () => {
    const dir = await tempDir();
    const { io, out } = capture();
    expect(await certsCommand(["init", "--dir", dir], io)).toBe(0);
    expect(await certsCommand(["issue", "server", "manager", "--san", "DNS:manager.internal", "--dir", dir], io)).toBe(0);
    expect(await certsCommand(["issue", "proplet", "edge-7", "--dir", dir, "--days", "30"], io)).toBe(0);
    expect(await certsCommand(["issue", "manager-client", "--dir", dir], io)).toBe(0);
    expect(out.join("\n")).toContain("CN=edge-7");
    expect(out.join("\n")).toContain("DNS:manager.internal");
    expect((await openssl("verify", "-CAfile", join(dir, "ca.pem"), join(dir, "edge-7.pem"), join(dir, "manager.pem"), join(dir, "manager-client.pem"))).ok).toBe(true);
    expect(await mode(join(dir, "edge-7.key"))).toBe(0o600);
    expect(readIdentity(await readFile(join(dir, "manager-client.pem"), "utf8")).commonName).toBe("manager");

    const shown = capture();
    expect(await certsCommand(["show", join(dir, "edge-7.pem")], shown.io)).toBe(0);
    expect(JSON.parse(shown.out.join(""))).toMatchObject({ commonName: "edge-7", kind: "proplet", extendedKeyUsages: ["clientAuth"] });

    const verified = capture();
    expect(await certsCommand(["verify", join(dir, "edge-7.pem"), "--dir", dir, "--purpose", "clientAuth"], verified.io)).toBe(0);
    const foreignDir = await tempDir();
    await initCa(foreignDir);
    const notOurs = capture();
    expect(await certsCommand(["verify", join(dir, "edge-7.pem"), "--dir", foreignDir], notOurs.io)).toBe(1);
    expect(notOurs.out.join("\n")).toContain("✘ cert.signature");

    await expect(certsCommand(["issue", "wizard", "x", "--dir", dir], io)).rejects.toBeInstanceOf(UsageError);
    await expect(certsCommand(["issue", "proplet", "--dir", dir], io)).rejects.toBeInstanceOf(UsageError);
    await expect(certsCommand(["frobnicate"], io)).rejects.toBeInstanceOf(UsageError);
    await expect(certsCommand(["init", "--dir", dir], io)).rejects.toMatchObject({ code: "ca_exists" });
  });
});

describe("revocation", () => {
  it("revoke adds the serial to ca.crl; openssl with -crl_check refuses it and still accepts the others", async () => {
    const dir = await tempDir();
    await initCa(dir);
    const empty = await writeCrl(dir);
    const keep = await issue(dir, "proplet", "keep");
    const lost = await issue(dir, "proplet", "lost");
    const ca = join(dir, "ca.pem");
    expect((await openssl("verify", "-crl_check", "-CRLfile", empty, "-CAfile", ca, lost.certPath)).ok).toBe(true);

    const revoked = await revoke(dir, "lost");
    expect(revoked.serial).toBe(lost.certificate.serialNumber);
    const refused = await openssl("verify", "-crl_check", "-CRLfile", revoked.crlPath, "-CAfile", ca, lost.certPath);
    expect(refused.ok).toBe(false);
    expect(refused.out).toContain("certificate revoked");
    expect((await openssl("verify", "-crl_check", "-CRLfile", revoked.crlPath, "-CAfile", ca, keep.certPath)).ok).toBe(true);
    const text = (await openssl("crl", "-in", revoked.crlPath, "-noout", "-text")).out;
    expect(text).toContain(`Serial Number: ${lost.certificate.serialNumber.toUpperCase()}`);
    expect(text).toMatch(/X509v3 CRL Number:\s+1/);
    expect(text).toContain("X509v3 Authority Key Identifier");
    // The CRL is signed by the CA.
    expect((await openssl("crl", "-in", revoked.crlPath, "-CAfile", ca, "-noout")).out).toContain("verify OK");

    // verifyCertificate reads the same list.
    const crlPem = await readFile(revoked.crlPath, "utf8");
    const caPem = await readFile(ca, "utf8");
    const lostCheck = await verifyCertificate(await readFile(lost.certPath, "utf8"), caPem, { crl: crlPem });
    expect(lostCheck.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["cert.not-revoked"]);
    expect((await verifyCertificate(await readFile(keep.certPath, "utf8"), caPem, { crl: crlPem })).ok).toBe(true);
    // A list not signed by this CA proves nothing.
    const other = await tempDir();
    await initCa(other);
    const otherCrl = await readFile(await writeCrl(other), "utf8");
    const unsigned = await verifyCertificate(await readFile(keep.certPath, "utf8"), caPem, { crl: otherCrl });
    expect(unsigned.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["crl.signature"]);

    await expect(revoke(dir, "nobody")).rejects.toBeInstanceOf(CertError);
    // Replacing the CA drops the old CA's list, which would no longer verify.
    await initCa(dir, { force: true });
    await expect(stat(revoked.crlPath)).rejects.toThrow();
  });

  it("a Node TLS server loading ca.crl refuses the revoked client and accepts the others", async () => {
    const dir = await tempDir();
    await initCa(dir);
    await issue(dir, "server", "broker");
    await issue(dir, "proplet", "keep");
    await issue(dir, "proplet", "lost");
    const { crlPath } = await revoke(dir, "lost");
    const read = (f: string) => readFile(join(dir, f));
    const server = createServer(
      { cert: await read("broker.pem"), key: await read("broker.key"), ca: await read("ca.pem"), crl: await readFile(crlPath), requestCert: true, rejectUnauthorized: true },
      (socket) => socket.end("hello"),
    );
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const attempt = (name: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port, ca: readFileSync(join(dir, "ca.pem")), cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) });
        let data = "";
        const timer = setTimeout(() => (socket.destroy(), resolve("timeout")), 5000);
        socket.on("data", (d: Buffer) => (data += d.toString()));
        socket.on("error", (e) => (clearTimeout(timer), resolve(`error: ${e.message}`)));
        socket.on("end", () => (clearTimeout(timer), resolve(data || "closed")));
      });
    try {
      expect(await attempt("keep")).toBe("hello");
      expect(await attempt("lost")).not.toBe("hello");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("propeller certs revoke", async () => {
    const dir = await tempDir();
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await certsCommand(["init", "--dir", dir], io)).toBe(0);
    expect(await stat(join(dir, "ca.crl"))).toBeTruthy();
    expect(await certsCommand(["issue", "proplet", "gone", "--dir", dir], io)).toBe(0);
    expect(await certsCommand(["revoke", "gone", "--dir", dir], io)).toBe(0);
    expect(out.join("\n")).toContain("revoked CN=gone");
    const checked: string[] = [];
    expect(await certsCommand(["verify", join(dir, "gone.pem"), "--dir", dir], { out: (t) => void checked.push(t), err: () => undefined })).toBe(1);
    expect(checked.join("\n")).toContain("✘ cert.not-revoked");
    expect((await openssl("verify", "-crl_check", "-CRLfile", join(dir, "ca.crl"), "-CAfile", join(dir, "ca.pem"), join(dir, "gone.pem"))).ok).toBe(false);
  });
});
