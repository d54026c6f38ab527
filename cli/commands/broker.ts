import { readFile } from "node:fs/promises";
import { isValidPropletId } from "../../protocol/topics.js";
import { writeFileAtomic } from "../../certs/index.js";
import { credentialsFrom, generatePassword, hashPassword } from "../../mqtt/security/index.js";
import { writeMosquittoConfig, writeNatsConfig, writeRabbitConfig } from "../../mqtt/security/index.js";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";

export const BROKER_USAGE = `usage:
  propeller broker config --certs D --out D [--port P] [--host H] [--root TOPIC_ROOT]
        [--server-cert NAME] [--data-dir D] [--user U]
        write mosquitto.conf and its ACL file (mTLS, identities from certificates, persistence)
  propeller broker config --broker nats|rabbitmq --proplets ID,ID,... --certs D --out D [--port P] [--host H]
        [--root TOPIC_ROOT] [--server-cert NAME] [--client-port P (nats)] [--data-dir D (nats)] [--amqp-port P (rabbitmq)]
        nats.conf, or rabbitmq.conf + definitions.json: the same ACL for every listed proplet
        (these brokers have no per-user pattern: regenerate on a new proplet, then reload / import_definitions)
  propeller broker passwd <proplet-id> --file credentials.json
        give a proplet that cannot do mTLS a broker password (printed once; only its scrypt hash is stored)`;

/** `propeller broker …`: configuration for a production broker and proplet credentials. */
export async function brokerCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "config": {
      const { values, positionals } = parse("broker config", rest, {
        certs: { type: "string" },
        out: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        root: { type: "string" },
        "server-cert": { type: "string" },
        "data-dir": { type: "string" },
        user: { type: "string" },
        broker: { type: "string" },
        proplets: { type: "string" },
        "client-port": { type: "string" },
        "amqp-port": { type: "string" },
        json: { type: "boolean" },
      });
      if (positionals.length > 0 || !values.certs || !values.out) throw new UsageError(`broker config needs --certs and --out\n${BROKER_USAGE}`);
      const portFlag = (flag: string, value: string | undefined, fallback: number) => {
        const p = parsePositiveInt(flag, value, fallback);
        if (p > 65_535) throw new UsageError(`${flag} must be at most 65535`);
        return p;
      };
      const port = portFlag("--port", values.port, 8883);
      const broker = values.broker ?? "mosquitto";
      if (broker !== "mosquitto") {
        if (broker !== "nats" && broker !== "rabbitmq") throw new UsageError(`--broker must be mosquitto, nats or rabbitmq, not "${broker}"`);
        if (values.proplets === undefined) throw new UsageError(`--broker ${broker} needs --proplets ID,ID,... (every proplet the broker admits)`);
        const proplets = values.proplets.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
        const common = {
          certsDir: values.certs,
          outDir: values.out,
          proplets,
          mqttPort: port,
          ...(values.host !== undefined ? { host: values.host } : {}),
          ...(values.root !== undefined ? { topicRoot: values.root } : {}),
          ...(values["server-cert"] !== undefined ? { serverCertName: values["server-cert"] } : {}),
        };
        if (broker === "nats") {
          const w = await writeNatsConfig({ ...common, clientPort: portFlag("--client-port", values["client-port"], 4222), ...(values["data-dir"] !== undefined ? { storeDir: values["data-dir"] } : {}) });
          if (values.json) io.out(JSON.stringify({ configPath: w.configPath, storeDir: w.storeDir }, null, 2));
          else io.out(`wrote ${w.configPath}\nJetStream store in ${w.storeDir}\nrun: nats-server -c ${w.configPath}  (after a change: nats-server --signal reload)`);
          return 0;
        }
        const w = await writeRabbitConfig({ ...common, amqpPort: portFlag("--amqp-port", values["amqp-port"], 5672) });
        if (values.json) io.out(JSON.stringify({ configPath: w.configPath, definitionsPath: w.definitionsPath }, null, 2));
        else io.out(`wrote ${w.configPath}\nwrote ${w.definitionsPath}\nrun: RABBITMQ_CONFIG_FILE=${w.configPath} rabbitmq-server with rabbitmq_mqtt enabled  (after a change: rabbitmqctl import_definitions ${w.definitionsPath})`);
        return 0;
      }
      const written = await writeMosquittoConfig({
        certsDir: values.certs,
        outDir: values.out,
        port,
        ...(values.host !== undefined ? { host: values.host } : {}),
        ...(values.root !== undefined ? { topicRoot: values.root } : {}),
        ...(values["server-cert"] !== undefined ? { serverName: values["server-cert"] } : {}),
        ...(values["data-dir"] !== undefined ? { persistenceDir: values["data-dir"] } : {}),
        ...(values.user !== undefined ? { user: values.user } : {}),
      });
      if (values.json) {
        io.out(JSON.stringify({ configPath: written.configPath, aclPath: written.aclPath, persistenceDir: written.persistenceDir }, null, 2));
        return 0;
      }
      io.out(`wrote ${written.configPath}\nwrote ${written.aclPath}\npersistence in ${written.persistenceDir}`);
      io.out(`run: mosquitto -c ${written.configPath}  (the certificates and data directory must be readable by the user Mosquitto runs as)`);
      return 0;
    }
    case "passwd": {
      const { values, positionals } = parse("broker passwd", rest, { file: { type: "string" }, json: { type: "boolean" } });
      const [id, ...extra] = positionals;
      if (!id || extra.length > 0 || !values.file) throw new UsageError(`broker passwd takes one proplet id and --file\n${BROKER_USAGE}`);
      if (!isValidPropletId(id) || id === "manager") throw new UsageError(`"${id}" is not a proplet id that can hold credentials`);
      let current: Record<string, string> = {};
      try {
        current = Object.fromEntries(credentialsFrom(JSON.parse(await readFile(values.file, "utf8"))));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      const password = generatePassword();
      current[id] = await hashPassword(password);
      await writeFileAtomic(values.file, JSON.stringify(current, null, 2) + "\n", 0o600, true);
      if (values.json) io.out(JSON.stringify({ propletId: id, password, file: values.file }));
      else {
        io.out(password);
        io.err(`the password above is for ${id}, shown once: store it in the proplet's secret configuration (${values.file} keeps only its hash)`);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown broker command "${sub ?? ""}"\n${BROKER_USAGE}`);
  }
}
