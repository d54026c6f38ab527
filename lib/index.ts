/** Small mechanics every box needs; depends on nothing else in the repository. */
export { BoundedMap, BoundedSet, type BoundedMapOptions } from "./bounded-map.js";
export { readBounded, readBoundedPrefix, readBoundedText, BoundedReadError, type BoundedReadFailure, type BoundedReadOptions } from "./bounded-read.js";
export { ConfigError, configProblem } from "./config-error.js";
export { PropellerError, messageOf } from "./errors.js";
export { Supervisor, stopChildProcess } from "./supervisor.js";
export { MAX_JWKS_BYTES, JwksFetchError, currentJwks, fetchJwks, remoteJwks, type RemoteJwks, type RemoteJwksOptions } from "./jwks.js";
export { runInWorker, workerEntry, workerJobData, SpareWorkers, WorkerCrashError, type SpareWorkersOptions, type WorkerEntry, type WorkerJob, type WorkerRun } from "./worker-harness.js";
// lib/x509.ts (the one @peculiar/x509 set-up) is imported by path, so loading this index loads no X.509 library.
