/**
 * Default bounds shared by every box. Each can be lowered per deployment; none is unbounded.
 * Sizes are bytes, times milliseconds.
 */
export const LIMITS = {
  /** Largest MQTT payload we publish or accept (brokers may allow more; we never rely on it). */
  mqttPayloadBytes: 8 * 1024 * 1024,
  /** Largest artifact carried inline in a task (base64 inflates it by a third on the wire). */
  inlineArtifactBytes: 4 * 1024 * 1024,
  /** Largest artifact a proplet downloads by default. */
  artifactBytes: 64 * 1024 * 1024,
  /** Default and maximum captured stdout / stderr per run. */
  outputBytes: 1024 * 1024,
  maxOutputBytes: 4 * 1024 * 1024,
  stdinBytes: 1024 * 1024,
  /** Default and maximum wall-clock time of one run. */
  timeoutMs: 60_000,
  maxTimeoutMs: 24 * 60 * 60 * 1000,
  /** Default and maximum Wasm linear memory of one run. */
  memoryBytes: 256 * 1024 * 1024,
  maxMemoryBytes: 4 * 1024 * 1024 * 1024,
  args: 256,
  argBytes: 4096,
  envVars: 256,
  envValueBytes: 32 * 1024,
  nameBytes: 256,
  /** Largest artifact any delivery path describes (a proplet's own cap is usually lower). */
  maxArtifactBytes: 4 * 1024 * 1024 * 1024,
  /** Chunked MQTT delivery: default and bounds of one chunk, and of chunk indices per request. */
  artifactChunkBytes: 256 * 1024,
  minArtifactChunkBytes: 1024,
  maxArtifactChunkBytes: 1024 * 1024,
  maxChunksPerRequest: 64,
  tags: 64,
  /** Largest `data` (decoded bytes) of one task.log message. */
  taskLogDataBytes: 64 * 1024,
  /** Federated learning (docs/fl.md): parameters of one model, its encoded size (it is a run's stdin), one update's size (a run's stdout). */
  flMaxParams: 32_768,
  flModelBytes: 1024 * 1024,
  flUpdateBytes: 1024 * 1024,
  flMaxParticipants: 100,
  flMaxRounds: 1000,
  /** Longest round deadline: one day. */
  flMaxRoundDeadlineMs: 24 * 60 * 60 * 1000,
} as const;
