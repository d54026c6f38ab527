/**
 * Per-command usage text, for `propeller <command> [<subcommand>…] --help` (and `-h`, and
 * `propeller help <command>…`). Keys are command paths ("task", "task create", "kbs resource put").
 * A top-level command without an entry here still answers --help: its lines of the overview
 * (`propeller help`) are cut out and shown, so a new command has help from the day it is listed.
 */
// Loaded only when help is asked for (main.ts imports this module on demand).
import { BROKER_USAGE } from "./commands/broker.js";
import { CERTS_USAGE } from "./commands/certs.js";
import { MANAGER_USAGE } from "./commands/manager.js";
import { PROPLET_USAGE } from "./commands/proplet.js";

const CLIENT = `  --manager URL   the manager (else PROPELLER_MANAGER_URL, else the URL \`propeller up\` wrote in the state directory)
  --token T       API key (else PROPELLER_TOKEN, else the state directory's manager-token)
  --state-dir D   where \`propeller up\` keeps its state (else PROPELLER_STATE_DIR, else $XDG_STATE_HOME/propeller or ~/.local/state/propeller)
  --json          machine-readable output on stdout`;

const TASK_OPTIONS = `task options:
  --name N                      task name (default: the file name)
  --arg A ...                   guest argument (also: positionals after the file, for run)
  --env K=V ...                 environment variable
  --secret-env NAME ...         a variable whose value is read from YOUR environment (never on the command line);
                                the manager keeps it encrypted and never shows it
  --stdin FILE|-                the guest's stdin
  --export NAME [--input N...]  call a core module export with numbers (prints its return values)
  --export NAME --wave 'ARGS'   call a component export with WAVE text (implies --runtime component)
  --runtime wasi-p1|component|wasi-http
  --timeout MS --memory BYTES --output-limit BYTES
  --target PROPLET  --tag T ...  --on-proplet-loss fail|reschedule
  --grant-dir GUEST[:ro][:volume=NAME] ...  --grant-host HOST:PORT ...   (nothing is reachable otherwise)
  --url URL --digest sha256:…   fetch the module from a URL instead of a file
  --oci REF [--digest sha256:…] pull it from an OCI registry
  --delivery mqtt               upload the file, then send it over MQTT in chunks (up to 64 MiB)
  --priority 0..100  --retry N [--retry-backoff MS]  --broadcast`;

const FLOW_SHARED = (kind: string): Record<string, string> => ({
  [`${kind} list`]: `usage: propeller ${kind} list [--state S] [--limit N] [--cursor C] [client options]\n  list ${kind}s, newest first\n\nclient options:\n${CLIENT}`,
  [`${kind} get`]: `usage: propeller ${kind} get <id> [client options]\n  show a ${kind} and its nodes\n\nclient options:\n${CLIENT}`,
  [`${kind} start`]: `usage: propeller ${kind} start <id> [client options]\n\nclient options:\n${CLIENT}`,
  [`${kind} stop`]: `usage: propeller ${kind} stop <id> [client options]\n\nclient options:\n${CLIENT}`,
  [`${kind} wait`]: `usage: propeller ${kind} wait <id> [--timeout MS] [client options]\n  prints each node's state as it changes; exit 0 only when the ${kind} completed\n\nclient options:\n${CLIENT}`,
});

const KBS_CONN = `  --kbs URL (or PROPELLER_KBS_URL)   --admin-key FILE (or PROPELLER_KBS_ADMIN_KEY) | --admin-token T (or PROPELLER_KBS_ADMIN_TOKEN)
  (else the development KBS \`propeller up\` runs, and its admin key, from --state-dir / PROPELLER_STATE_DIR)
  --json`;

export const USAGE: Record<string, string> = {
  up: `usage: propeller up [--state-dir D | --ephemeral] [--proplets N] [--port P] [--host H] [--mqtt URL]
                    [--database URL] [--no-kbs] [--kbs-port P] [--mtls [--certs DIR]] [--log-level L] [--log-file F] [--json]
  start broker, database, manager, a development KBS and N proplets in one process, until Ctrl-C

  --state-dir D   keeps the database, keys and the admin token here, so a restart keeps tasks, cron schedules
                  and history (default: PROPELLER_STATE_DIR, else $XDG_STATE_HOME/propeller, else
                  ~/.local/state/propeller). Every other command finds the manager and token there.
  --ephemeral     a temporary state directory, removed at exit (nothing survives a restart)
  --database URL  PostgreSQL (postgres://…) instead of the embedded PGlite in the state directory
  --mqtt URL      an external broker instead of the embedded aedes
  --mtls          the embedded broker requires client certificates (a throwaway PKI unless --certs DIR) and enforces the ACL
  --log-file F    write the logs (JSON lines) to F; otherwise they go to stderr (readable when it is a terminal)
  --json          print the URLs and paths as one JSON object on stdout once the stack is up`,
  demo: `usage: propeller demo [--log-level L] [--log-file F] [--json]
  run the example workloads end to end on the embedded defaults (in memory: nothing is kept)
  logs go to --log-file (default: a file in the temporary directory, named at the end); --json prints the steps as JSON`,
  run: `usage: propeller run <file.wasm|file.wasm.age> [guest args...] [task options] [--wait MS] [--json] [--receipt-out FILE]
                     [--confidential --kbs URL --tee T [--resource kbs:///… --plaintext-digest sha256:…] [--admin-key F]]
  create a task, start it, wait, print its output (stdout: the guest's stdout, or an export's return values)
  and verify its receipt; the exit code is the guest's

  --wait MS        how long to wait for the result (default 120000)
  --confidential   encrypt a plain module (its key goes to the KBS) or send a .age file as is; needs --tee T and a KBS:
                   --kbs URL / PROPELLER_KBS_URL, else the one \`propeller up\` runs (with its admin key)
  --receipt-out F  write the run's receipt (compact JWS) to F

${TASK_OPTIONS}

client options:
${CLIENT}`,
  task: `usage: propeller task <create|list|get|start|stop|logs|runs> ...
  propeller task create <file.wasm> [task options] [--cron 'EXPR' [--tz ZONE] [--missed run-once|skip]] [--start]
  propeller task list [--state S] [--limit N] [--cursor C]
  propeller task get|start|stop|logs|runs <task-id>
  \`propeller task <subcommand> --help\` for each`,
  "task create": `usage: propeller task create <file.wasm> [task options] [--cron 'EXPR' [--tz ZONE] [--missed run-once|skip]] [--start] [client options]
  create a task (started at once with --start; a --cron task runs on its schedule)

${TASK_OPTIONS}

client options:
${CLIENT}`,
  "task list": `usage: propeller task list [--state S] [--limit N] [--cursor C] [client options]\n\nclient options:\n${CLIENT}`,
  "task get": `usage: propeller task get <task-id> [client options]\n  the task as JSON on stdout (a one-line summary on stderr)\n\nclient options:\n${CLIENT}`,
  "task start": `usage: propeller task start <task-id> [client options]\n\nclient options:\n${CLIENT}`,
  "task stop": `usage: propeller task stop <task-id> [client options]\n\nclient options:\n${CLIENT}`,
  "task logs": `usage: propeller task logs <task-id> [client options]\n  the latest run's stdout (stderr on stderr)\n\nclient options:\n${CLIENT}`,
  "task runs": `usage: propeller task runs <task-id> [client options]\n  every run of the task\n\nclient options:\n${CLIENT}`,
  push: `usage: propeller push <file.wasm|file.age> <registry[:port]/repo:tag> [--insecure] [--username U --password-stdin]
                      [--encrypted-for kbs:///r/t/tag --plaintext-digest sha256:…] [--json]
  push a Wasm artifact to an OCI registry; prints its pinned reference (registry/repo@sha256:…)`,
  encrypt: `usage: propeller encrypt <app.wasm> --kbs URL --resource repo/type/tag (--policy FILE | --tee T) [--out FILE]
                         [--admin-key F | --admin-token T] [--identity-out FILE] [--force] [--json]
  encrypt a workload with a fresh age identity and store the identity in the KBS with its policy`,
  kbs: `usage: propeller kbs <serve|admin-keygen|resource|policy|attestation-policy|refvalue|audit> ...
  propeller kbs serve [--config FILE] [--listen HOST:PORT] [--database URL] [--dev] [--master-key-file F] [--log-level L]
  propeller kbs admin-keygen [--id ID] [--out DIR] [--alg EdDSA|ES256]
  propeller kbs resource put <repo/type/tag> <FILE|-> | list [--prefix P] | show <path> | rm <path>
  propeller kbs policy set <repo/type/tag> <policy.json> | get <repo/type/tag>
  propeller kbs attestation-policy set <tee> <policy.json> | get <tee>
  propeller kbs refvalue add --tee T --claim /pointer --value V --expires ISO [--note TEXT] | list [--tee T]
  propeller kbs audit [--limit N]
admin commands take:
${KBS_CONN}`,
  "kbs serve": `usage: propeller kbs serve [--config FILE] [--listen HOST:PORT] [--database URL] [--dev] [--master-key-file F] [--log-level L]
  run the Key Broker Service (also configured by PROPELLER_KBS_* variables)`,
  "kbs admin-keygen": `usage: propeller kbs admin-keygen [--id ID] [--out DIR] [--alg EdDSA|ES256] [--json]
  create an admin key pair for the KBS admin API (the private key is written 0600)`,
  "kbs resource": `usage: propeller kbs resource put <repo/type/tag> <FILE|-> | list [--prefix P] | show <path> | rm <path>\n${KBS_CONN}`,
  "kbs policy": `usage: propeller kbs policy set <repo/type/tag> <policy.json> | get <repo/type/tag>\n${KBS_CONN}`,
  "kbs attestation-policy": `usage: propeller kbs attestation-policy set <tee> <policy.json> | get <tee>\n  how evidence of a TEE is appraised\n${KBS_CONN}`,
  "kbs refvalue": `usage: propeller kbs refvalue add --tee T --claim /pointer --value V --expires ISO [--note TEXT] | list [--tee T]\n${KBS_CONN}`,
  "kbs audit": `usage: propeller kbs audit [--limit N]\n${KBS_CONN}`,
  attestation: `usage: propeller attestation verify --tee <snp|tdx|tpm|az-snp-vtpm|sample> --evidence FILE [--cert FILE]...
        [--collateral FILE]... [--at ISO-TIME] [--report-data HEX] [--allow-debug] [--vmpl N] [--trusted-ak SHA256]... [--no-crl]
  verify one piece of TEE evidence offline; prints claims, status and failed checks as JSON; exit 0 only when it verified`,
  receipt: `usage: propeller receipt verify <receipt.jws|-> --jwks <URL|file> [--expect-workload sha256:…] [--expect-output FILE]
        [--expect-task ID] [--expect-run ID] [--expect-nonce N] [--allow-unattested] [--json]
        [--log <URL prefix|checkpoint file> --log-key KEY [--proof bundle.json] [--witness KEY... --quorum N] [--token T]]
  verify a result receipt offline; prints every check; exit 1 on any failure
  --log        also check that the receipt is in the transparency log: fetch its inclusion proof from the
               log (http(s)://host:7070/log), or check a saved proof (--proof, from GET /log/proof/inclusion)
               against a saved signed checkpoint file
  --log-key    the log's verifier key (name+id+key, from GET /log/key, pinned out of band) or a file holding it
  --witness    a witness's verifier key whose cosignature counts; --quorum N of them required (default: all)`,
  certs: CERTS_USAGE,
  ...Object.fromEntries(["init", "issue", "revoke", "show", "verify"].map((sub) => [`certs ${sub}`, `${CERTS_USAGE}\n(--json: the result as JSON)`])),
  broker: BROKER_USAGE,
  "broker config": `${BROKER_USAGE}\n(--json: the paths written, as JSON)`,
  "broker passwd": `${BROKER_USAGE}\n(the password alone on stdout; --json: {propletId, password, file})`,
  manager: MANAGER_USAGE,
  "manager serve": MANAGER_USAGE,
  proplet: PROPLET_USAGE,
  "proplet serve": PROPLET_USAGE,
  "receipt verify": "",
  "attestation verify": "",
  "apikey generate": `usage: propeller apikey generate [--json]\n  print a fresh API key, offline (for a bootstrap key file such as PROPELLER_BOOTSTRAP_API_KEY_FILE)`,
  "apikey create": `usage: propeller apikey create --name N --scopes read,submit[,admin] [client options]\n  create an API key (needs an admin credential); the key is printed once, on stdout\n\nclient options:\n${CLIENT}`,
  "apikey list": `usage: propeller apikey list [client options]\n\nclient options:\n${CLIENT}`,
  "apikey revoke": `usage: propeller apikey revoke <key-id> [client options]\n\nclient options:\n${CLIENT}`,
  apikey: `usage: propeller apikey <generate|create|list|revoke> ...
  propeller apikey generate [--json]                          a fresh API key, offline (for a bootstrap key file)
  propeller apikey create --name N --scopes read,submit[,admin] [client options]   prints the key once
  propeller apikey list [client options]
  propeller apikey revoke <key-id> [client options]
client options:
${CLIENT}`,
  workflow: `usage: propeller workflow <create|list|get|start|stop|wait> ...
  propeller workflow create <spec.json|-> [--start]   a DAG of tasks: {"name", "nodes": [{"name", "task": {…POST /tasks fields,
        or "wasm": "file.wasm" relative to the spec}, "dependsOn"?, "runIf"?, "onFailure"?, "passResults"?}]}
  propeller workflow list [--state S] [--limit N] [--cursor C] | get|start|stop <id> | wait <id> [--timeout MS]
client options:
${CLIENT}`,
  "workflow create": `usage: propeller workflow create <spec.json|-> [--start] [client options]
  spec: {"name", "nodes": [{"name", "task": {…POST /tasks fields, or "wasm": "file.wasm" relative to the spec},
         "dependsOn"?, "runIf"?, "onFailure"?, "passResults"?}]}

client options:
${CLIENT}`,
  ...FLOW_SHARED("workflow"),
  job: `usage: propeller job <create|list|get|start|stop|wait> ...
  propeller job create --name N --mode parallel|sequential <a.wasm> <b.wasm>... [--start]   each file one task
  propeller job list|get|start|stop|wait ...    as for workflows
client options:
${CLIENT}`,
  "job create": `usage: propeller job create --name N --mode parallel|sequential <a.wasm> <b.wasm>... [--start] [client options]\n  each file is one task (in order for --mode sequential)\n\nclient options:\n${CLIENT}`,
  ...FLOW_SHARED("job"),
  function: `usage: propeller function <deploy|list|get|delete|invoke> ...
  propeller function deploy <file.wasm> --name N --export E [--instances K] [--replicas R] [--memory B] [--tag T]
  propeller function list | get <name> | delete <name>
  propeller function invoke <name> [--input N]... [--deadline MS]   prints the return values; exit 1 when it failed
client options:
${CLIENT}`,
  "function deploy": `usage: propeller function deploy <file.wasm> --name N --export E [--instances K] [--replicas R] [--memory B] [--tag T]... [client options]\n  a warm function: kept instantiated on proplets, called synchronously\n\nclient options:\n${CLIENT}`,
  "function list": `usage: propeller function list [client options]\n\nclient options:\n${CLIENT}`,
  "function get": `usage: propeller function get <name> [client options]\n\nclient options:\n${CLIENT}`,
  "function delete": `usage: propeller function delete <name> [client options]\n\nclient options:\n${CLIENT}`,
  "function invoke": `usage: propeller function invoke <name> [--input N]... [--deadline MS] [client options]\n  prints the return values; exit 1 when it failed\n\nclient options:\n${CLIENT}`,
};

USAGE["receipt verify"] = USAGE.receipt!;
USAGE["attestation verify"] = USAGE.attestation!;

/**
 * The command's lines of the overview: the line naming it (two spaces, the name, a space) and the
 * more-indented lines that follow, until the next command.
 */
export function overviewLines(overview: string, command: string): string | undefined {
  const lines = overview.split("\n");
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    const starts = line.startsWith(`  ${command} `) || line === `  ${command}`;
    if (starts) {
      inside = true;
      out.push(line);
    } else if (inside && /^ {4,}\S/.test(line)) out.push(line);
    else inside = false;
  }
  return out.length ? `usage: propeller ${command} …\n${out.join("\n")}` : undefined;
}

/**
 * The usage for the longest known command path at the start of `words` (flags skipped), or
 * undefined when the first word is no command. `overview` supplies commands without an entry.
 */
export function usageFor(words: string[], overview: string, commands: readonly string[]): string | undefined {
  const path = words.filter((w) => !w.startsWith("-"));
  if (!path[0] || !commands.includes(path[0])) return undefined;
  for (let n = Math.min(path.length, 3); n >= 1; n--) {
    const key = path.slice(0, n).join(" ");
    if (USAGE[key]) return USAGE[key];
  }
  return overviewLines(overview, path[0]) ?? `usage: propeller ${path[0]} … (see \`propeller help\`)`;
}
