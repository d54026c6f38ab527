/*
 * pp_core.h - the proplet's logic, with no OS calls: the platform is reached only through
 * pp_port (clock, random, MQTT publish/subscribe, key storage, log). The same wire protocol as
 * the TypeScript proplet (protocol/ in the repository): topics <root>/proplets/<id>/..., JSON
 * envelopes {version, messageId, timestamp, traceparent, kind, ...}, the lease
 * task.start -> task.accepted -> task.result (resent until task.result-ack), chunked artifacts,
 * announce/heartbeat/status, receipts (compact JWS, ES256, typ propeller-receipt+jws).
 *
 * Threading: single-threaded. The port calls pp_on_message() for every message received on a
 * subscribed topic, pp_on_connect() after every (re)connect, and pp_tick() every few hundred
 * milliseconds. Runs execute inside those calls (the engine is bounded by fuel).
 */
#ifndef PP_CORE_H
#define PP_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PP_LOG_DEBUG = 0, PP_LOG_INFO, PP_LOG_WARN, PP_LOG_ERROR };

typedef struct {
    void *ctx;
    /* milliseconds since the Unix epoch (timestamps) */
    int64_t (*wall_ms)(void *ctx);
    /* a monotonic millisecond clock (timers) */
    uint64_t (*mono_ms)(void *ctx);
    /* cryptographically secure random bytes; 0 on success */
    int (*random)(void *ctx, uint8_t *out, size_t n);
    /* QoS 1 publish / subscribe; 0 on success */
    int (*publish)(void *ctx, const char *topic, const uint8_t *payload, size_t len);
    int (*subscribe)(void *ctx, const char *topic);
    /* identity key storage (32-byte P-256 private scalar); 0 on success */
    int (*key_load)(void *ctx, uint8_t key[32]);
    int (*key_store)(void *ctx, const uint8_t key[32]);
    void (*log)(void *ctx, int level, const char *msg);
} pp_port;

/* Bounds (compile-time so that a device build is sized statically). */
#ifndef PP_MAX_SLOTS
#define PP_MAX_SLOTS 4
#endif
#define PP_ID_MAX 128
#define PP_TOPIC_MAX 320
#define PP_PENDING_MAX 8       /* unacknowledged results kept */
#define PP_RESULT_MAX 8192     /* bytes of one task.result (JSON) */
#define PP_DEDUP_MAX 256       /* message ids remembered */
#define PP_ENDED_MAX 256       /* run ids that ended and were acknowledged */
#define PP_INPUTS_MAX 16       /* export call inputs / results */
#define PP_CHUNK_WINDOW 4      /* chunk requests outstanding */
#define PP_CHUNK_ATTEMPTS 5

typedef struct {
    const char *id;            /* proplet id (topic-safe) */
    const char *name;          /* display name */
    const char *topic_root;    /* default "propeller/v1" */
    uint32_t slots;            /* concurrent runs, <= PP_MAX_SLOTS */
    size_t slot_bytes;         /* pool bytes per run slot: module + instance + linear memory */
    size_t artifact_max;       /* largest artifact accepted (bytes) */
    uint32_t heartbeat_ms;
    uint32_t resend_ms;        /* first result resend delay (doubles up to 30 s) */
    uint32_t chunk_timeout_ms; /* a chunk not received in this time is asked again */
    uint64_t fuel_per_ms;      /* instructions per millisecond of a task's timeoutMs */
    const char *tags[4];       /* NULL-terminated announce tags */
    size_t ntags;
} pp_config;

typedef struct pp_proplet pp_proplet;

/* The proplet state lives in caller memory (no malloc in the core's own state): pp_size()
 * bytes, 16-byte aligned. The slot pools are separate: slots * slot_bytes bytes. */
size_t pp_size(void);
/* 0 on success; -1 with a log line when the config or the identity key is unusable. */
int pp_init(pp_proplet *p, const pp_config *cfg, const pp_port *port, uint8_t *slot_memory, size_t slot_memory_len);

/* After every (re)connect: subscribe, status online, announce, resend unacknowledged results,
 * ask again for every outstanding chunk. */
void pp_on_connect(pp_proplet *p);
void pp_on_disconnect(pp_proplet *p);
/* A message on a subscribed topic. Never fails: bad input is logged and dropped. */
void pp_on_message(pp_proplet *p, const char *topic, const uint8_t *payload, size_t len);
/* Timers: heartbeat, result resend, chunk re-request. */
void pp_tick(pp_proplet *p);

/* The last-will message (proplet.status offline) and its topic, for the port's CONNECT. */
int pp_last_will(pp_proplet *p, char *topic, size_t topic_cap, char *payload, size_t payload_cap);
/* The identity key as a public JWK (JSON object text). */
const char *pp_identity_jwk(const pp_proplet *p);

typedef struct {
    uint32_t invalid_messages, duplicate_messages, busy_refusals, runs_started, results_sent,
        results_acked, results_dropped, chunks_received, chunks_corrupt, chunk_rerequests;
} pp_counters;
const pp_counters *pp_get_counters(const pp_proplet *p);
/* Runs holding a slot now, and unacknowledged results. */
uint32_t pp_running(const pp_proplet *p);
uint32_t pp_pending_results(const pp_proplet *p);

#ifdef __cplusplus
}
#endif
#endif
