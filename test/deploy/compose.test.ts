/**
 * docker-compose.yml, Dockerfile and .dockerignore checked against the code, without Docker: every
 * command exists, every variable is one the command reads, every file a service needs is made by
 * the `certs` service or shipped in the image, every service is health-checked, the image is built
 * from what the repository holds. (test/e2e/production.test.ts runs the same configuration.)
 */
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { Script } from "node:vm";
import { beforeAll, describe, expect, it } from "vitest";
import { commandNames } from "../../cli/main.js";
import { KBS_SERVE_ENV, MANAGER_SERVE_ENV, NODE_ENV_VARS, PROPLET_SERVE_ENV } from "../../cli/service-env.js";
import { certsScript, interpolate, loadCompose, type ComposeFile, type ComposeService } from "../../testing/compose.js";
import { REPO_ROOT } from "../../testing/paths.js";

const SERVE_ENV: Record<string, readonly string[]> = {
  "kbs serve": KBS_SERVE_ENV,
  "manager serve": MANAGER_SERVE_ENV,
  "proplet serve": PROPLET_SERVE_ENV,
};
/** What each third-party image's health check may run (binaries those images ship). */
const IMAGE_HEALTH_BINARIES: Record<string, string> = { "postgres:16-bookworm": "pg_isready", "eclipse-mosquitto:2": "mosquitto_sub", "registry:2": "wget" };
const CERTS_DIR = "/certs";

let compose: ComposeFile;
const isNode = (s: ComposeService) => s.build !== undefined || s.image === "propeller:latest";

/**
 * The files the `certs` script writes, from its commands: `certs init` (ca.*), `certs issue <kind>
 * <name>` (<name>.pem/.key/-chain.pem), `broker config --out D`, `kbs admin-keygen --id I --out D`,
 * `> file` redirections, `cp a b`. Paths relative to /certs.
 */
function producedByCerts(script: string): Set<string> {
  const out = new Set<string>();
  const dir = (p: string) => posix.relative(CERTS_DIR, p.replace(/"\$C"|\$C\b/g, CERTS_DIR).replace(/"/g, ""));
  for (const line of script.split("\n").map((l) => l.trim())) {
    const words = line.split(/\s+/);
    if (words[0] === "propeller" && words[1] === "certs" && words[2] === "init") ["ca.pem", "ca.key", "ca.crl"].forEach((f) => out.add(f));
    if (words[0] === "propeller" && words[1] === "certs" && words[2] === "issue") {
      const name = words[4] && !words[4].startsWith("--") ? words[4] : words[3]; // manager-client's name defaults to its kind
      for (const suffix of [".pem", ".key", "-chain.pem"]) out.add(`${name}${suffix}`);
    }
    if (words[0] === "propeller" && words[1] === "broker" && words[2] === "config") {
      const d = dir(words[words.indexOf("--out") + 1]!);
      out.add(`${d}/mosquitto.conf`).add(`${d}/acl`);
    }
    if (words[0] === "propeller" && words[1] === "kbs" && words[2] === "admin-keygen") {
      const id = words[words.indexOf("--id") + 1]!;
      const d = dir(words[words.indexOf("--out") + 1]!);
      out.add(`${d}/${id}.key.jwk`).add(`${d}/${id}.pub.jwk`);
    }
    const redirect = /> "?([^"\s]+)"?\s*$/.exec(line);
    if (redirect) out.add(dir(redirect[1]!));
    if (words[0] === "cp") out.add(dir(words[2]!));
  }
  return out;
}

beforeAll(async () => {
  compose = await loadCompose({});
});

describe("docker-compose.yml", () => {
  it("parses, has the production services, named volumes only, and depends_on points at services that can satisfy it", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["certs", "kbs", "manager", "mosquitto", "postgres", "proplet-1", "proplet-2", "registry"]);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(["service_healthy", "service_completed_successfully"], `${name} → ${dep}`).toContain(condition);
        if (condition === "service_healthy") expect(compose.services[dep]!.healthcheck, `${dep} must have a health check (${name} waits for it)`).toBeDefined();
        else expect(compose.services[dep]!.restart, `${dep} is one-shot`).toBe("no");
      }
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!;
        if (source.startsWith(".")) expect(existsSync(join(REPO_ROOT, source)), `${name} mounts ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: ${source} is a named volume`).toHaveProperty(source);
      }
    }
    // Everything that needs the PKI waits for it, directly or through a service that does.
    const waitsForCerts = (name: string, seen = new Set<string>()): boolean => {
      if (seen.has(name)) return false;
      seen.add(name);
      const deps = Object.keys(compose.services[name]!.depends_on ?? {});
      return deps.includes("certs") || deps.some((d) => waitsForCerts(d, seen));
    };
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== "certs" && (service.volumes ?? []).some((v) => v.startsWith("certs:"))) expect(waitsForCerts(name), name).toBe(true);
    }
  });

  it("every Node service is built from the one Dockerfile and runs a real propeller command", () => {
    const names = commandNames();
    const nodeServices = Object.entries(compose.services).filter(([, s]) => isNode(s));
    expect(nodeServices.map(([n]) => n).sort()).toEqual(["certs", "kbs", "manager", "proplet-1", "proplet-2"]);
    for (const [name, service] of nodeServices) {
      expect(service.build, name).toEqual({ context: ".", dockerfile: "Dockerfile" });
      expect(service.image, name).toBe("propeller:latest");
      if (name === "certs") continue;
      expect(service.entrypoint, `${name} keeps the image's entrypoint (propeller)`).toBeUndefined();
      const command = service.command!.join(" ");
      expect(names, name).toContain(service.command![0]);
      expect(Object.keys(SERVE_ENV), `${name}: a long-running serve command`).toContain(command);
    }
    // The certs script only runs commands that exist (and the image's own tools: sh, node, cp, chmod, chown…).
    const script = certsScript(compose);
    const used = script.split("\n").map((l) => l.trim().split(/\s+/)).filter((w) => w[0] === "propeller").map((w) => w[1]!);
    expect(used.length).toBeGreaterThan(5);
    for (const command of used) expect(names, `certs script: propeller ${command}`).toContain(command);
    expect(used).toContain("apikey");
  });

  it("every variable a service sets is one its command reads; every *_FILE and mounted file is produced by certs or exists", () => {
    const produced = producedByCerts(certsScript(compose));
    for (const expected of ["ca.pem", "broker-chain.pem", "mosquitto/mosquitto.conf", "kbs-admin/ops.pub.jwk", "manager-api-key", "kbs-master.key"]) expect(produced).toContain(expected);
    const mustExist = (service: string, path: string) => {
      if (path.startsWith(`${CERTS_DIR}/`)) expect(produced, `${service}: ${path} is made by the certs service`).toContain(path.slice(CERTS_DIR.length + 1));
      else if (path.startsWith("/tmp/")) expect(compose.services[service]!.tmpfs ?? [], `${service}: ${path} on a tmpfs`).toContain("/tmp");
      else throw new Error(`${service}: ${path} is neither made by the certs service nor on a tmpfs`);
    };
    for (const [name, service] of Object.entries(compose.services)) {
      const env = service.environment ?? {};
      if (isNode(service)) {
        const allowed = name === "certs" ? ["PROPELLER_CERTS_DIR"] : [...SERVE_ENV[service.command!.join(" ")]!, ...NODE_ENV_VARS];
        for (const key of Object.keys(env)) expect(allowed, `${name} sets ${key}`).toContain(key);
        // Every service that reads a file is given it read-only.
        if (name !== "certs") expect(service.volumes, name).toContain("certs:/certs:ro");
      }
      for (const [key, value] of Object.entries(env)) {
        if (key.endsWith("_FILE") || key === "NODE_EXTRA_CA_CERTS") mustExist(name, value);
        for (const m of value.matchAll(/"file:([^"]+)"/g)) mustExist(name, m[1]!);
        // Secrets come from files: no value looks like a key or password.
        expect(value, `${name}.${key}`).not.toMatch(/PRIVATE KEY|prop_[A-Za-z0-9]|:[^@/\s]+@/);
      }
      for (const arg of [...(service.command ?? []), ...(service.healthcheck?.test ?? [])]) {
        if (/^\/certs\/.+\.(pem|key|conf)$/.test(arg)) mustExist(name, arg);
      }
    }
    // The one secret compose knows about, the Postgres password, is a file too.
    expect(compose.services.postgres!.environment!.POSTGRES_PASSWORD).toBeUndefined();
    mustExist("postgres", compose.services.postgres!.environment!.POSTGRES_PASSWORD_FILE!);
  });

  it("the mTLS identities: each proplet its own certificate, the manager its client certificate, everyone our CA", () => {
    const cert = (s: string) => compose.services[s]!.environment!.PROPELLER_MQTT_CERT_FILE;
    expect(cert("proplet-1")).toBe("/certs/proplet-1.pem");
    expect(cert("proplet-2")).toBe("/certs/proplet-2.pem");
    expect(cert("manager")).toBe("/certs/manager-client.pem");
    for (const s of ["manager", "proplet-1", "proplet-2"]) {
      expect(compose.services[s]!.environment!.PROPELLER_MQTT_URL).toBe("mqtts://mosquitto:8883");
      expect(compose.services[s]!.environment!.PROPELLER_PROPLET_ID, `${s}: the id comes from the certificate`).toBeUndefined();
    }
    expect(compose.services.manager!.environment!.PROPELLER_HTTP_TLS_CERT_FILE).toBeDefined();
    expect(compose.services.kbs!.environment!.PROPELLER_KBS_TLS_CERT_FILE).toBeDefined();
    // Production by default; development mode only when the operator asks for it.
    expect(compose.services.kbs!.environment!.PROPELLER_KBS_DEVELOPMENT).toBe("false");
  });

  it("every long-running service has a health check its image can run; the Node ones compile and probe the right port", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === "certs") {
        expect(service.healthcheck).toBeUndefined();
        continue;
      }
      const test = service.healthcheck?.test;
      expect(test?.[0], name).toBe("CMD");
      const binary = test![1]!;
      if (isNode(service)) {
        expect(binary, name).toBe("node");
        expect(test![2]).toBe("-e");
        expect(() => new Script(test![3]!), `${name}'s health check is JavaScript`).not.toThrow();
        const port = /localhost:(\d+)/.exec(test![3]!)?.[1];
        if (port) expect((service.ports ?? []).map((p) => p.split(":")[1])).toContain(port);
        if (name.startsWith("proplet")) expect(test![3]).toContain(service.environment!.PROPELLER_HEALTH_FILE);
      } else {
        expect(IMAGE_HEALTH_BINARIES[service.image!], name).toBe(binary);
      }
    }
  });

  it("interpolates like compose: development mode and a TEE are the operator's opt-in", async () => {
    expect(interpolate("a$$b ${X:-d} ${Y-e} ${Z}", { X: "", Y: "" })).toBe("a$b d  ");
    const dev = await loadCompose({ PROPELLER_KBS_DEVELOPMENT: "true", PROPELLER_PROPLET_1_TEE: '{"type":"sample"}' });
    expect(dev.services.kbs!.environment!.PROPELLER_KBS_DEVELOPMENT).toBe("true");
    expect(dev.services["proplet-1"]!.environment!.PROPELLER_TEE).toBe('{"type":"sample"}');
    expect(dev.services["proplet-2"]!.environment!.PROPELLER_TEE).toBe("");
  });
});

describe("the variable lists are what the code reads", () => {
  const names = (file: string, re: RegExp) => new Set([...readFileSync(join(REPO_ROOT, file), "utf8").matchAll(re)].map((m) => m[1]!));
  it("kbs serve: kbs/config.ts's PROPELLER_KBS_* plus the serve command's files", () => {
    const read = names("kbs/config.ts", /\b(PROPELLER_KBS_[A-Z_]+)\b/g);
    for (const n of names("cli/service-env.ts", /(?:get|file)\("(PROPELLER_KBS_[A-Z_]+)"\)/g)) read.add(n);
    expect([...read].sort()).toEqual(KBS_SERVE_ENV.filter((n) => n !== "PROPELLER_LOG_LEVEL").sort());
  });
  it("manager serve and proplet serve: every variable they read is listed (and PROPELLER_LOG_LEVEL via cli/logger.ts)", () => {
    const read = names("cli/service-env.ts", /(?:get|file|require|port|url)\("(PROPELLER_[A-Z_]+)"/g);
    const listed = new Set<string>([...MANAGER_SERVE_ENV, ...PROPLET_SERVE_ENV, ...KBS_SERVE_ENV]);
    for (const n of read) expect(listed, n).toContain(n);
    for (const n of [...MANAGER_SERVE_ENV, ...PROPLET_SERVE_ENV]) if (n !== "PROPELLER_LOG_LEVEL") expect(read, n).toContain(n);
  });
});

describe("Dockerfile and .dockerignore", () => {
  const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
  const instructions = dockerfile.split("\n").filter((l) => /^[A-Z]+\s/.test(l));
  const ignore = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

  it("is multi-stage on node:20-bookworm-slim; the runtime has dist/, bin/, migrations/ and production node_modules and runs as node", () => {
    const froms = instructions.filter((l) => l.startsWith("FROM "));
    expect(froms).toEqual(["FROM node:20-bookworm-slim AS build", "FROM node:20-bookworm-slim"]);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    for (const target of ["node_modules/", "dist/", "bin/", "migrations/"]) expect(runtime).toMatch(new RegExp(`^COPY .*\\s${target}$`, "m"));
    expect(dockerfile).toMatch(/npm ci && npm prune --omit=dev/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["propeller"\]$/m);
  });

  it("copies only what exists, everything the build compiles, and nothing .dockerignore drops", () => {
    const copies = instructions.filter((l) => l.startsWith("COPY ") && !l.includes("--from="));
    const sources = copies.flatMap((l) => l.split(/\s+/).slice(1, -1)).map((s) => s.replace(/\/$/, ""));
    for (const source of sources) {
      expect(existsSync(join(REPO_ROOT, source)), `COPY ${source}`).toBe(true);
      expect(ignore, `${source} is ignored`).not.toContain(source);
    }
    // The build compiles tsconfig.json's include minus tsconfig.build.json's exclusions.
    const include = (JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.json"), "utf8")) as { include: string[] }).include;
    const excluded = (JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.build.json"), "utf8")) as { exclude: string[] }).exclude;
    for (const dir of include.filter((d) => !d.includes("*") && !excluded.includes(d) && !excluded.includes(`**/${d}/**`))) expect(sources, `the build needs ${dir}/`).toContain(dir);
    for (const file of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "bin", "migrations"]) expect(sources).toContain(file);
    // The entry point the image links onto PATH is what the services run.
    expect(dockerfile).toContain("ln -s /app/bin/propeller.js /usr/local/bin/propeller");
    expect(ignore).toEqual(expect.arrayContaining(["node_modules", "dist", ".git", "*.key"]));
  });
});
