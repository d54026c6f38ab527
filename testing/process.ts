// One implementation of "SIGTERM, then SIGKILL after a grace period", in lib/.
export { stopChildProcess as stopProcess } from "../lib/supervisor.js";
