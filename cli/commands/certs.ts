import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CA_CERT_FILE, CERT_KINDS, CRL_FILE, initCa, isCertKind, issue, readIdentity, revoke, verifyCertificate, writeCrl } from "../../certs/index.js";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";
import { clientEnv } from "../client-env.js";

export const CERTS_USAGE = `usage:
  propeller certs init [--dir D] [--name CN] [--days N] [--force]
  propeller certs issue <${CERT_KINDS.join("|")}> <name> [--san DNS:host|IP:addr ...] [--days N] [--force] [--dir D]
  propeller certs revoke <name> [--dir D]      (then restart the brokers/servers that load ca.crl)
  propeller certs show <cert.pem>
  propeller certs verify <cert.pem> [--dir D] [--purpose serverAuth|clientAuth]
The directory defaults to $PROPELLER_CERTS_DIR or ./propeller-certs. Keys are written 0600.`;

function certsDir(value: string | undefined): string {
  return value ?? clientEnv().certsDir ?? "propeller-certs";
}

/** `propeller certs …`: the development PKI (CA, server and client certificates). */
export async function certsCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "init": {
      const { values, positionals } = parse("certs init", rest, {
        dir: { type: "string" },
        name: { type: "string" },
        days: { type: "string" },
        force: { type: "boolean" },
        json: { type: "boolean" },
      });
      if (positionals.length > 0) throw new UsageError(`certs init takes no arguments\n${CERTS_USAGE}`);
      const dir = certsDir(values.dir);
      const ca = await initCa(dir, {
        ...(values.name !== undefined ? { name: values.name } : {}),
        lifetimeDays: parsePositiveInt("--days", values.days, 3650),
        force: values.force === true,
      });
      const crlPath = await writeCrl(dir);
      if (values.json) {
        io.out(JSON.stringify({ subject: ca.certificate.subject, notAfter: ca.certificate.notAfter.toISOString(), certPath: ca.certPath, keyPath: ca.keyPath, crlPath }, null, 2));
        return 0;
      }
      io.out(`CA "${ca.certificate.subject}" valid until ${ca.certificate.notAfter.toISOString()}`);
      io.out(`  ${ca.certPath}\n  ${ca.keyPath} (keep it secret; mode 0600)\n  ${crlPath} (empty revocation list)`);
      return 0;
    }
    case "issue": {
      const { values, positionals } = parse("certs issue", rest, {
        dir: { type: "string" },
        san: { type: "string", multiple: true },
        days: { type: "string" },
        force: { type: "boolean" },
        json: { type: "boolean" },
      });
      const [kind, nameArg, ...extra] = positionals;
      if (!kind || !isCertKind(kind)) throw new UsageError(`certs issue: the kind must be one of ${CERT_KINDS.join(", ")}\n${CERTS_USAGE}`);
      const name = nameArg ?? (kind === "manager-client" ? "manager-client" : undefined);
      if (!name || extra.length > 0) throw new UsageError(`certs issue ${kind} takes one name\n${CERTS_USAGE}`);
      const issued = await issue(certsDir(values.dir), kind, name, {
        sans: values.san ?? [],
        lifetimeDays: parsePositiveInt("--days", values.days, 365),
        force: values.force === true,
      });
      const id = readIdentity(issued.certificate);
      if (values.json) {
        io.out(JSON.stringify({ kind, commonName: issued.commonName, serialNumber: id.serialNumber, notAfter: id.notAfter.toISOString(), dnsNames: id.dnsNames, ipAddresses: id.ipAddresses, certPath: issued.certPath, keyPath: issued.keyPath, chainPath: issued.chainPath }, null, 2));
        return 0;
      }
      io.out(`${kind} certificate CN=${issued.commonName}, serial ${id.serialNumber}, valid until ${id.notAfter.toISOString()}`);
      if (id.dnsNames.length + id.ipAddresses.length > 0) io.out(`  SANs: ${[...id.dnsNames.map((d) => `DNS:${d}`), ...id.ipAddresses.map((i) => `IP:${i}`)].join(", ")}`);
      io.out(`  ${issued.certPath}\n  ${issued.keyPath} (mode 0600)\n  ${issued.chainPath}`);
      return 0;
    }
    case "revoke": {
      const { values, positionals } = parse("certs revoke", rest, { dir: { type: "string" }, json: { type: "boolean" } });
      if (positionals.length !== 1) throw new UsageError(`certs revoke takes one certificate name\n${CERTS_USAGE}`);
      const revoked = await revoke(certsDir(values.dir), positionals[0]!);
      if (values.json) io.out(JSON.stringify(revoked, null, 2));
      else io.out(`revoked CN=${revoked.commonName} (serial ${revoked.serial}); ${revoked.crlPath} updated: restart the brokers and servers that load it`);
      return 0;
    }
    case "show": {
      // Always JSON (--json accepted, so every command takes it).
      const { positionals } = parse("certs show", rest, { json: { type: "boolean" } });
      if (positionals.length !== 1) throw new UsageError(`certs show takes one certificate file\n${CERTS_USAGE}`);
      const id = readIdentity(await readText(positionals[0]!));
      io.out(JSON.stringify(id, null, 2));
      return 0;
    }
    case "verify": {
      const { values, positionals } = parse("certs verify", rest, { dir: { type: "string" }, purpose: { type: "string" }, json: { type: "boolean" } });
      if (positionals.length !== 1) throw new UsageError(`certs verify takes one certificate file\n${CERTS_USAGE}`);
      const purpose = values.purpose;
      if (purpose !== undefined && purpose !== "serverAuth" && purpose !== "clientAuth") throw new UsageError("--purpose is serverAuth or clientAuth");
      const dir = certsDir(values.dir);
      const crl = await readFile(join(dir, CRL_FILE)).catch(() => undefined);
      const result = await verifyCertificate(await readText(positionals[0]!), await readText(join(dir, CA_CERT_FILE)), {
        ...(purpose ? { purpose } : {}),
        ...(crl ? { crl } : {}),
      });
      if (values.json) io.out(JSON.stringify(result, null, 2));
      else {
        for (const check of result.checks) io.out(`${check.ok ? "✔" : "✘"} ${check.name.padEnd(22)} ${check.detail ?? ""}`);
        io.out(result.ok ? "certificate verified" : "certificate NOT verified");
      }
      return result.ok ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown certs command "${sub ?? ""}"\n${CERTS_USAGE}`);
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}
