import { PropellerError } from "../protocol/errors.js";
import { RemoteError, UsageError } from "./errors.js";
import { consoleOutput, type Output } from "./output.js";

export const HELP = `propeller — attested execution for WebAssembly

usage: propeller <command> [options]

  up [--state-dir D | --ephemeral] [--proplets N] [--port P] [--mqtt URL] [--database URL] [--no-kbs] [--kbs-port P]
        start broker, database, manager, a development KBS and N proplets in one process (embedded defaults);
        everything it keeps (database, keys, admin token) is in the state directory, so a restart keeps tasks,
        schedules and history: --state-dir, else PROPELLER_STATE_DIR, else $XDG_STATE_HOME/propeller or
        ~/.local/state/propeller (--ephemeral: a temporary one, removed at exit)
        --mtls [--certs DIR]: the embedded broker requires client certificates (a throwaway PKI unless DIR) and enforces the ACL
  demo  run the example workloads end to end on the embedded defaults
  run <file.wasm> [guest args...] [--export NAME --input N...] [--env K=V] [--secret-env NAME] [--stdin FILE|-]
        [--timeout MS] [--memory BYTES] [--target PROPLET] [--tag T] [--wait MS] [--json]
        [--confidential --kbs URL --tee T [--resource kbs:///… --plaintext-digest sha256:…] [--admin-key F]]
        [--receipt-out FILE]
        create a task, start it, wait, print its output and verify its receipt (exit code = the guest's);
        --confidential encrypts a plain module (key stored in the KBS) or sends a .age file as is
        task options (run and task create) also: --runtime wasi-p1|component|wasi-http,
        --export NAME --wave 'ARGS' (a component export; WAVE text, implies --runtime component),
        --grant-dir GUEST[:ro][:volume=NAME]... --grant-host HOST:PORT...  (nothing is reachable otherwise)
        --oci REF [--digest sha256:…] instead of a file; --delivery mqtt (uploads the file, then chunks over MQTT)
        --priority 0..100, --retry N [--retry-backoff MS], --broadcast, --cron 'EXPR' [--tz ZONE] [--missed run-once|skip]
        (--cron: task create only). A component export prints its WAVE result; a wasi-http daemon prints its
        URL and serves until Ctrl-C, which stops the task
  task create <file.wasm> [task options] [--start]
  task list [--state S] [--limit N] [--cursor C]
  task get|start|stop|logs|runs <task-id>
  task logs <task-id> --follow [--run <run-id>] [--json]
        print a run's output live as it is written; exits with the run (0 when it completed)
  push <file.wasm|file.age> <registry[:port]/repo:tag> [--insecure] [--username U --password-stdin]
        [--encrypted-for kbs:///r/t/tag --plaintext-digest sha256:…] [--json]
        push a Wasm artifact to an OCI registry; prints its digest reference
  certs init|issue|revoke|show|verify ...   development PKI: CA, server and client certificates (see \`propeller certs\`)
  broker config --certs D --out D [--port P]   Mosquitto mTLS listener config + ACL file for the proplets and manager
                [--broker nats|rabbitmq --proplets IDS]   the same for NATS or RabbitMQ
  broker passwd <proplet-id> --file F          per-proplet credentials where mTLS is not possible
  encrypt <app.wasm> --kbs URL --resource repo/type/tag (--policy FILE | --tee T) [--out FILE]
        encrypt a workload with a fresh age identity and store the identity in the KBS with its policy
  kbs serve [--config FILE] [--listen HOST:PORT] [--database URL] [--dev] [--master-key-file F]
        run the Key Broker Service (also configured by PROPELLER_KBS_* variables)
  kbs admin-keygen [--id ID] [--out DIR]      create an admin key pair for the KBS admin API
  kbs resource put <repo/type/tag> <FILE|-> | list | show <path> | rm <path>
  kbs policy set <repo/type/tag> <policy.json> | get <repo/type/tag>
  kbs attestation-policy set <tee> <policy.json> | get <tee>   how evidence of a TEE is appraised
  kbs refvalue add --tee T --claim /pointer --value V --expires ISO | list [--tee T]
  kbs audit [--limit N]
        admin commands take --kbs URL (PROPELLER_KBS_URL) and --admin-key FILE (PROPELLER_KBS_ADMIN_KEY)
        or --admin-token T (PROPELLER_KBS_ADMIN_TOKEN)
  attestation verify --tee <snp|tdx|tpm|az-snp-vtpm|sample> --evidence FILE [--cert FILE]...
        [--collateral FILE]... [--at ISO-TIME] [--report-data HEX] [--allow-debug] [--vmpl N]
        [--trusted-ak SHA256]... [--no-crl]
        verify one piece of TEE evidence offline; prints claims, status and failed checks as JSON
  receipt verify <receipt.jws> --jwks <URL|file> [--expect-workload sha256:…] [--expect-output FILE]
        [--expect-task ID] [--expect-run ID] [--expect-nonce N] [--allow-unattested] [--json]
        verify a result receipt offline; prints every check; exit 1 on any failure
        --log <URL prefix|checkpoint file> --log-key KEY [--proof bundle.json] [--witness KEY... --quorum N]:
        also check the receipt is in the transparency log (a checkpoint file needs --proof)
  log verify-proof <proof.json> [--log-key KEY] [--witness KEY... --quorum N] [--json]
        check one inclusion or consistency proof bundle offline; exit 0 holds, 1 not (says why)
  log monitor --log URL --log-key KEY --state FILE [--workload sha256:…] [--proplet ID] [--full] [--watch MS]
        follow the log: each checkpoint must extend the last one (fork, rollback and rewritten entries are
        printed as evidence, exit 1); every entry is re-hashed; lists the receipts of a workload or proplet
  log witness --log URL --log-key KEY --key FILE --state FILE [--no-submit]
        cosign the log's checkpoint (C2SP cosignature/v1) after checking it extends the last one cosigned
  log keygen --name NAME [--witness]            a log (or witness) signer key and its verifier key
  manager serve    run the manager (production), configured by PROPELLER_* variables (\`propeller manager --help\`)
  proplet serve    run one proplet (production); its id is its client certificate's CN (\`propeller proplet --help\`)
  apikey generate [--json]                      print a fresh API key offline (for a bootstrap key file)
  apikey create --name N --scopes read,submit[,admin] | list | revoke <key-id>
        manage the manager's API keys (needs an admin credential); create prints the key once
  workflow create <spec.json|-> [--start]     a DAG of tasks: {"name", "nodes": [{"name", "task": {…POST /tasks fields,
        or "wasm": "file.wasm" relative to the spec}, "dependsOn"?, "runIf"?, "onFailure"?, "passResults"?}]}
  workflow list [--state S] [--limit N] [--cursor C] | get|start|stop <id>
  workflow wait <id> [--timeout MS]            prints each node's state; exit 0 only when completed
  job create --name N --mode parallel|sequential <a.wasm> <b.wasm>... [--start]   each file one task
  job list|get|start|stop|wait ...             as for workflows
  fl create <spec.json|-> [--start]           a federated learning experiment: the fields of POST /fl/experiments
        ("wasm": "file.wasm" relative to the spec for the workload); docs/fl.md
  fl list [--state S] | status|start|stop <id> | wait <id> [--timeout MS] | model <id> [--version N]
  fl demo [--rounds N] [--proplets N] [--secagg]  FedAvg (or secure aggregation) on the embedded stack; prints the test accuracy per round
  function deploy <file.wasm> --name N --export E [--instances K] [--replicas R] [--memory B] [--tag T]
        a warm function: kept instantiated on proplets, called synchronously
  function list | get|delete <name>
  function invoke <name> [--input N]... [--deadline MS]   prints the return values; exit 1 when it failed

Common options: --manager URL (or PROPELLER_MANAGER_URL; else the manager \`propeller up\` runs from the state
directory; else http://127.0.0.1:7070), --token T (or PROPELLER_TOKEN; else the token \`up\` wrote, sent only to
that manager), --state-dir D (or PROPELLER_STATE_DIR), --json (machine-readable output on stdout).
Results go to stdout, progress and diagnostics to stderr. \`propeller <command> --help\` for each command.
`;

type Command = (argv: string[], io: Output) => Promise<number>;

/** Commands load on demand: `receipt verify` must not start (or even import) the manager. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  up: async () => (await import("./commands/up.js")).upCommand,
  demo: async () => (await import("./commands/demo.js")).demoCommand,
  run: async () => (await import("./commands/run.js")).runCommand,
  task: async () => (await import("./commands/task.js")).taskCommand,
  receipt: async () => (await import("./commands/receipt.js")).receiptCommand,
  push: async () => (await import("./commands/push.js")).pushCommand,
  encrypt: async () => (await import("./commands/encrypt.js")).encryptCommand,
  kbs: async () => (await import("./commands/kbs.js")).kbsCommand,
  attestation: async () => (await import("./commands/attestation.js")).attestationCommand,
  certs: async () => (await import("./commands/certs.js")).certsCommand,
  broker: async () => (await import("./commands/broker.js")).brokerCommand,
  manager: async () => (await import("./commands/manager.js")).managerCommand,
  proplet: async () => (await import("./commands/proplet.js")).propletCommand,
  apikey: async () => (await import("./commands/apikey.js")).apikeyCommand,
  workflow: async () => (await import("./commands/workflow.js")).workflowCommand,
  job: async () => (await import("./commands/job.js")).jobCommand,
  function: async () => (await import("./commands/function.js")).functionCommand,
  fl: async () => (await import("./commands/fl.js")).flCommand,
  log: async () => (await import("./commands/log.js")).logCommand,
};

/** Runs the CLI; returns the exit code. Errors become one clear line on stderr. */
export async function main(argv: string[], io: Output = consoleOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    // `propeller help run` is `propeller run --help`.
    if (name === "help" && rest.length > 0) return help(rest, io);
    if (name) io.out(HELP);
    else io.err(HELP);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.err(`propeller: unknown command "${name}"; the commands are ${commandNames().join(", ")}. Run \`propeller help\`.`);
    return 2;
  }
  // --help anywhere before a `--` shows the usage and runs nothing (not even `up`'s stack).
  if (ownArgs(rest).some((a) => a === "--help" || a === "-h")) return help(argv, io);
  // Tracing (OTEL_* variables; off by default) starts before the service's modules load, so the
  // ESM loader hook sees `pg`; with it off nothing of the SDK is loaded.
  const tracing = await startServiceTracing(name, rest);
  try {
    const command = await load();
    return await command(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      // Every usage error says where the usage is.
      const hint = /--help|propeller help/.test(err.message) ? "" : ` Run \`propeller ${name} --help\`.`;
      io.err(`propeller: ${err.message}${/[.!?]$/.test(err.message) || !hint ? "" : "."}${hint}`);
      return 2;
    }
    if (err instanceof RemoteError || err instanceof PropellerError) {
      io.err(`propeller: ${err.message}`);
      return 1;
    }
    // A failed system call (a file, a port, a permission) is the environment, not a bug: its message
    // names the path or address; a stack trace would only hide it.
    const sys = err as NodeJS.ErrnoException;
    if (typeof sys?.syscall === "string" && typeof sys.code === "string") {
      io.err(`propeller: ${sys.message}${sys.code === "EACCES" || sys.code === "EPERM" ? " (check the permissions, or choose another directory, e.g. with --state-dir)" : ""}`);
      return 1;
    }
    io.err(`propeller: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await tracing?.shutdown().catch(() => undefined);
  }
}

/** The service name of each command that runs a service (up, demo, manager/proplet/kbs serve). */
const TRACED_SERVICES: Record<string, string> = { up: "propeller", demo: "propeller", manager: "propeller-manager", proplet: "proplet", kbs: "kbs" };

async function startServiceTracing(name: string, rest: string[]) {
  const service = TRACED_SERVICES[name];
  if (!service || ((name === "manager" || name === "proplet" || name === "kbs") && rest[0] !== "serve")) return null;
  const { tracingEnabled } = await import("../lib/tracing/env.js");
  if (!tracingEnabled()) return null;
  const { startTracing } = await import("../lib/tracing/start.js");
  return startTracing({ serviceName: service });
}

/** Prints the usage of the command path in `words` (exit 0), or says the command is unknown (exit 2). */
async function help(words: string[], io: Output): Promise<number> {
  const { usageFor } = await import("./usage.js");
  const usage = usageFor(ownArgs(words), HELP, commandNames());
  if (!usage) {
    io.err(`propeller: unknown command "${words[0]}"; the commands are ${commandNames().join(", ")}. Run \`propeller help\`.`);
    return 2;
  }
  io.out(usage);
  return 0;
}

/** argv before a `--` (what follows it is the guest's, never ours). */
function ownArgs(argv: string[]): string[] {
  const end = argv.indexOf("--");
  return end < 0 ? argv : argv.slice(0, end);
}

/** The top-level command names (for checks that a deployment only runs commands that exist). */
export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}
