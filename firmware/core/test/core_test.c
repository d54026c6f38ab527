/* Unit tests of the proplet core under ASan/UBSan: encodings, the chunk assembler, receipts
 * (signature verified with mbedTLS), and the whole lease over a recording port: announce,
 * export call, result resend until ack, run-id dedup, fuel stopping a loop, trap, memory cap,
 * busy refusal, chunked delivery (out of order, duplicate, corrupt), stop, hostile input.
 *
 * modules.h: M1 = (module (func (export "add") (param i32 i32) (result i32) ...)
 *   (func (export "spin") loop br 0 end) (func (export "boom") unreachable)
 *   (func (export "add64") (param i64 i64) (result i64) ...) (func (export "half") (param f64) (result f64) ...))
 * M2 = (module (memory 100) (func (export "f") (result i32) i32.const 1))
 * M3 = a module importing wasi_snapshot_preview1.fd_write */
#include "core_internal.h"
#include "modules.h"
#include <mbedtls/ecdsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define CHECK(c)                                                                                  \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(c)) { failures++; printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); }           \
    } while (0)

/* ---- a recording port -------------------------------------------------------------------- */
#define MAX_MSGS 256
typedef struct { char topic[PP_TOPIC_MAX]; char *payload; size_t len; } msg;
static msg sent[MAX_MSGS];
static int nsent, nsubs, verbose_log;
static uint64_t mono = 1000;
static int64_t wall = 1700000000123LL;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint8_t stored_key[32];
static int have_key;

static int64_t t_wall(void *c) { (void)c; return wall; }
static uint64_t t_mono(void *c) { (void)c; return mono; }
/* deterministic for the test only; the POSIX port reads the OS's random source */
static int t_random(void *c, uint8_t *out, size_t n)
{
    size_t i;
    (void)c;
    for (i = 0; i < n; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        out[i] = (uint8_t)rng_state;
    }
    return 0;
}
static int t_publish(void *c, const char *topic, const uint8_t *p, size_t n)
{
    (void)c;
    if (nsent >= MAX_MSGS) return -1;
    snprintf(sent[nsent].topic, sizeof sent[nsent].topic, "%s", topic);
    sent[nsent].payload = malloc(n + 1);
    memcpy(sent[nsent].payload, p, n);
    sent[nsent].payload[n] = 0;
    sent[nsent].len = n;
    nsent++;
    return 0;
}
static int t_subscribe(void *c, const char *t) { (void)c; (void)t; nsubs++; return 0; }
static int t_key_load(void *c, uint8_t k[32]) { (void)c; if (!have_key) return -1; memcpy(k, stored_key, 32); return 0; }
static int t_key_store(void *c, const uint8_t k[32]) { (void)c; memcpy(stored_key, k, 32); have_key = 1; return 0; }
static void t_log(void *c, int level, const char *m) { (void)c; if (verbose_log || level >= PP_LOG_ERROR) printf("    log %d: %s\n", level, m); }

static pp_port port = {NULL, t_wall, t_mono, t_random, t_publish, t_subscribe, t_key_load, t_key_store, t_log};

static void clear_sent(void)
{
    int i;
    for (i = 0; i < nsent; i++) free(sent[i].payload);
    nsent = 0;
}

/* the last message published on a topic ending in `name`, parsed; NULL if none */
static cJSON *last(const char *name)
{
    int i;
    size_t n = strlen(name);
    for (i = nsent - 1; i >= 0; i--) {
        size_t t = strlen(sent[i].topic);
        if (t >= n && !strcmp(sent[i].topic + t - n, name)) return cJSON_Parse(sent[i].payload);
    }
    return NULL;
}

static int count(const char *name)
{
    int i, k = 0;
    size_t n = strlen(name);
    for (i = 0; i < nsent; i++) {
        size_t t = strlen(sent[i].topic);
        k += t >= n && !strcmp(sent[i].topic + t - n, name);
    }
    return k;
}

static const char *s_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- messages the manager sends ---------------------------------------------------------- */
static int seq;
static char buf[1 << 20];

static void envelope(char *out, size_t cap, const char *kind)
{
    snprintf(out, cap, "\"version\":1,\"messageId\":\"m-%d\",\"timestamp\":\"2026-12-07T10:00:00.000Z\","
             "\"traceparent\":\"00-0123456789abcdef0123456789abcdef-0123456789abcdef-01\",\"kind\":\"%s\",\"propletId\":\"c1\"",
             ++seq, kind);
}

static void deliver(pp_proplet *p, const char *name, const char *json)
{
    char t[PP_TOPIC_MAX];
    snprintf(t, sizeof t, "propeller/v1/proplets/c1/%s", name);
    pp_on_message(p, t, (const uint8_t *)json, strlen(json));
}

static void start_inline(pp_proplet *p, const char *run, const uint8_t *mod, size_t len, const char *fn, const char *inputs,
                         unsigned timeout, unsigned mem, const char *runtime)
{
    static char b64[8192];
    char env[400], dg[72];
    pp_b64_encode(mod, len, b64, sizeof b64, 0);
    pp_digest(mod, len, dg);
    envelope(env, sizeof env, "task.start");
    snprintf(buf, sizeof buf,
             "{%s,\"taskId\":\"t-%s\",\"runId\":\"%s\",\"attempt\":1,\"runtime\":\"%s\",\"artifact\":{\"digest\":\"%s\","
             "\"location\":{\"kind\":\"inline\",\"data\":\"%s\"}},\"entrypoint\":{\"kind\":\"export\",\"name\":\"%s\","
             "\"inputs\":%s},\"args\":[],\"env\":{},\"stdin\":\"\",\"limits\":{\"timeoutMs\":%u,\"memoryBytes\":%u,"
             "\"outputBytes\":1024},\"receiptNonce\":\"nonce-nonce-nonce-nonce-1\"}",
             env, run, run, runtime, dg, b64, fn, inputs, timeout, mem);
    deliver(p, "tasks/start", buf);
}

static void ack(pp_proplet *p, const char *run)
{
    char env[400], m[600];
    envelope(env, sizeof env, "task.result-ack");
    snprintf(m, sizeof m, "{%s,\"taskId\":\"t-%s\",\"runId\":\"%s\"}", env, run, run);
    deliver(p, "tasks/result-ack", m);
}

/* ---- tests ---------------------------------------------------------------------------- */
static void test_encodings(void)
{
    uint8_t out[64];
    char t[128], d[72];
    cJSON *j;
    printf("encodings: base64, digests, patterns, ISO time, JS numbers, RFC 8785\n");
    pp_b64_encode((const uint8_t *)"hello", 5, t, sizeof t, 0);
    CHECK(!strcmp(t, "aGVsbG8="));
    pp_b64_encode((const uint8_t *)"hello", 5, t, sizeof t, 1);
    CHECK(!strcmp(t, "aGVsbG8"));
    CHECK(pp_b64_decode("aGVsbG8=", 8, out, sizeof out) == 5 && !memcmp(out, "hello", 5));
    CHECK(pp_b64_decode("aGVsbG8", 7, out, sizeof out) == -1);
    CHECK(pp_b64_decode("aGV*bG8=", 8, out, sizeof out) == -1);
    CHECK(pp_b64_decode("aGVsbG8=", 8, out, 4) == -1);
    CHECK(pp_b64_decoded_size("aGVsbG8=", 8) == 5 && pp_b64_decoded_size("", 0) == 0);
    pp_digest((const uint8_t *)"abc", 3, d);
    CHECK(!strcmp(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(pp_is_digest(d) && !pp_is_digest("sha256:BA78") && !pp_is_digest("md5:x"));
    CHECK(pp_is_id("run-1:a.b") && !pp_is_id("-x") && !pp_is_id("") && !pp_is_proplet_id("a:b") && !pp_is_proplet_id("a/b"));
    CHECK(pp_is_timestamp("2026-12-07T10:00:00.000Z") && pp_is_timestamp("2026-12-07T10:00:00+01:00") && !pp_is_timestamp("2026-12-07 10:00:00Z"));
    CHECK(pp_is_traceparent("00-0123456789abcdef0123456789abcdef-0123456789abcdef-01") && !pp_is_traceparent("01-x"));
    pp_iso_time(0, t);
    CHECK(!strcmp(t, "1970-01-01T00:00:00.000Z"));
    pp_iso_time(1700000000123LL, t);
    CHECK(!strcmp(t, "2023-11-14T22:13:20.123Z"));
    pp_iso_time(951782400000LL, t); /* leap day */
    CHECK(!strcmp(t, "2000-02-29T00:00:00.000Z"));
    pp_js_number(5, t); CHECK(!strcmp(t, "5"));
    pp_js_number(-5, t); CHECK(!strcmp(t, "-5"));
    pp_js_number(0.1, t); CHECK(!strcmp(t, "0.1"));
    pp_js_number(123.456, t); CHECK(!strcmp(t, "123.456"));
    pp_js_number(1e21, t); CHECK(!strcmp(t, "1e+21"));
    pp_js_number(1e20, t); CHECK(!strcmp(t, "100000000000000000000"));
    pp_js_number(1.5e-7, t); CHECK(!strcmp(t, "1.5e-7"));
    pp_js_number(0.000001, t); CHECK(!strcmp(t, "0.000001"));
    pp_js_number(5e-324, t); CHECK(!strcmp(t, "5e-324"));
    pp_js_number(4294967295.0, t); CHECK(!strcmp(t, "4294967295"));
    j = cJSON_Parse("{\"b\":[1,\"x\\n\\u0001\",true,null],\"a\":{\"z\":1.5,\"y\":-0.25},\"\\u00e9\":\"\\\"\"}");
    CHECK(pp_jcs(j, t, sizeof t) > 0 && !strcmp(t, "{\"a\":{\"y\":-0.25,\"z\":1.5},\"b\":[1,\"x\\n\\u0001\",true,null],\"\xc3\xa9\":\"\\\"\"}"));
    CHECK(pp_jcs(j, t, 10) == -1);
    cJSON_Delete(j);
}

static void test_assembler(void)
{
    static uint8_t art[2600], into[4096];
    char b64[2000], sha[72], dg[72];
    uint32_t idx[PP_CHUNK_WINDOW];
    pp_asm a;
    int i, n;
    printf("chunk assembly: budget, order, duplicates, corrupt chunks, digest, attempts\n");
    for (i = 0; i < (int)sizeof art; i++) art[i] = (uint8_t)(i * 7);
    pp_digest(art, sizeof art, dg);
    CHECK(pp_asm_begin(&a, into, 2000, dg, sizeof art, 1024, 3) == -1 && !strcmp(a.error_code, "artifact_too_large"));
    CHECK(pp_asm_begin(&a, into, sizeof into, dg, sizeof art, 1024, 4) == -1 && !strcmp(a.error_code, "artifact_invalid"));
    CHECK(pp_asm_begin(&a, into, sizeof into, dg, sizeof art, 1024, 3) == 0);
    n = pp_asm_due(&a, 100, 1000, 0, idx, PP_CHUNK_WINDOW);
    CHECK(n == 3 && idx[0] == 0 && idx[1] == 1 && idx[2] == 2);
    CHECK(pp_asm_due(&a, 200, 1000, 0, idx, PP_CHUNK_WINDOW) == 0);
    /* chunk 2 first (the last, short one) */
    pp_b64_encode(art + 2048, 552, b64, sizeof b64, 0);
    pp_digest(art + 2048, 552, sha);
    CHECK(pp_asm_chunk(&a, 2, 3, sha, b64, strlen(b64)) == PP_ASM_OK);
    CHECK(pp_asm_chunk(&a, 2, 3, sha, b64, strlen(b64)) == PP_ASM_DUPLICATE);
    /* a chunk whose bytes do not match its sha256 is refused, and asked again */
    pp_b64_encode(art, 1024, b64, sizeof b64, 0);
    pp_digest(art + 1, 1024, sha);
    CHECK(pp_asm_chunk(&a, 0, 3, sha, b64, strlen(b64)) == PP_ASM_CORRUPT);
    n = pp_asm_due(&a, 300, 1000, 0, idx, PP_CHUNK_WINDOW);
    CHECK(n == 1 && idx[0] == 0);
    /* wrong length, wrong layout */
    pp_digest(art, 1000, sha);
    pp_b64_encode(art, 1000, b64, sizeof b64, 0);
    CHECK(pp_asm_chunk(&a, 0, 3, sha, b64, strlen(b64)) == PP_ASM_CORRUPT);
    CHECK(pp_asm_chunk(&a, 7, 3, sha, b64, strlen(b64)) == PP_ASM_CORRUPT);
    CHECK(pp_asm_chunk(&a, 0, 4, sha, b64, strlen(b64)) == PP_ASM_CORRUPT);
    pp_b64_encode(art, 1024, b64, sizeof b64, 0);
    pp_digest(art, 1024, sha);
    CHECK(pp_asm_chunk(&a, 0, 3, sha, b64, strlen(b64)) == PP_ASM_OK);
    /* chunk 1 is late: asked again after the timeout */
    n = pp_asm_due(&a, 1200, 1000, 0, idx, PP_CHUNK_WINDOW);
    CHECK(n == 1 && idx[0] == 1);
    pp_b64_encode(art + 1024, 1024, b64, sizeof b64, 0);
    pp_digest(art + 1024, 1024, sha);
    CHECK(pp_asm_chunk(&a, 1, 3, sha, b64, strlen(b64)) == PP_ASM_DONE && !memcmp(into, art, sizeof art));

    /* every chunk intact but the whole is not what the task named */
    pp_digest(art, 10, dg);
    CHECK(pp_asm_begin(&a, into, sizeof into, dg, 1024, 1024, 1) == 0);
    pp_asm_due(&a, 100, 1000, 0, idx, PP_CHUNK_WINDOW);
    CHECK(pp_asm_chunk(&a, 0, 1, sha + 0, b64, 0) == PP_ASM_CORRUPT);
    pp_b64_encode(art, 1024, b64, sizeof b64, 0);
    pp_digest(art, 1024, sha);
    CHECK(pp_asm_chunk(&a, 0, 1, sha, b64, strlen(b64)) == PP_ASM_FAILED && !strcmp(a.error_code, "digest_mismatch"));

    /* a chunk that never comes: attempts run out */
    CHECK(pp_asm_begin(&a, into, sizeof into, dg, 1024, 1024, 1) == 0);
    n = 0;
    for (i = 1; i < 20 && n >= 0; i++) n = pp_asm_due(&a, (uint64_t)i * 2000, 1000, 0, idx, PP_CHUNK_WINDOW);
    CHECK(n == -1 && !strcmp(a.error_code, "artifact_unreachable") && i == PP_CHUNK_ATTEMPTS + 2); /* asked 5 times; the 6th turn gives up */
}

/* Verifies a compact JWS with the x/y of its own header (what the manager does with jose). */
static int jws_verifies(const char *jws, const pp_key *k)
{
    const char *dot2 = strrchr(jws, '.');
    uint8_t sig[64], hash[32];
    char b64[100];
    size_t i, n;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    int ok;
    /* base64url → base64 for the strict decoder */
    n = strlen(dot2 + 1);
    if (n != 86) return 0;
    for (i = 0; i < n; i++) b64[i] = dot2[1 + i] == '-' ? '+' : dot2[1 + i] == '_' ? '/' : dot2[1 + i];
    b64[n] = '=';
    b64[n + 1] = '=';
    if (pp_b64_decode(b64, n + 2, sig, sizeof sig) != 64) return 0;
    pp_sha256((const uint8_t *)jws, (size_t)(dot2 - jws), hash);
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    ok = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 && mbedtls_mpi_read_binary(&q.X, k->x, 32) == 0 &&
         mbedtls_mpi_read_binary(&q.Y, k->y, 32) == 0 && mbedtls_mpi_lset(&q.Z, 1) == 0 &&
         mbedtls_mpi_read_binary(&r, sig, 32) == 0 && mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0 &&
         mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s) == 0;
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return ok;
}

static void test_receipt_key(void)
{
    pp_key k, again;
    char jws[2048];
    long n;
    printf("identity key: made once and stored, loaded again; ES256 JWS verifies\n");
    have_key = 0;
    CHECK(pp_key_init(&k, &port) == 0 && have_key);
    CHECK(pp_key_init(&again, &port) == 0 && !strcmp(k.jwk, again.jwk));
    CHECK(strstr(k.jwk, "\"kty\":\"EC\",\"crv\":\"P-256\"") != NULL);
    n = pp_jws_sign(&k, &port, "{\"a\":1}", 7, jws, sizeof jws);
    CHECK(n > 0 && jws_verifies(jws, &k));
    jws[5] ^= 1;
    CHECK(!jws_verifies(jws, &k));
    CHECK(pp_jws_sign(&k, &port, "{\"a\":1}", 7, jws, 40) == -1);
}

static pp_proplet *prop;
static uint8_t *slots_mem;
#define SLOT_BYTES (512u * 1024u)

static void new_proplet(uint32_t slots)
{
    pp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.id = "c1";
    cfg.name = "c proplet";
    cfg.slots = slots;
    cfg.slot_bytes = SLOT_BYTES;
    cfg.artifact_max = 64 * 1024;
    cfg.heartbeat_ms = 5000;
    cfg.resend_ms = 1000;
    cfg.chunk_timeout_ms = 2000;
    cfg.fuel_per_ms = 10000;
    cfg.tags[0] = "mcu";
    cfg.ntags = 1;
    free(prop);
    free(slots_mem);
    prop = malloc(pp_size()); /* malloc aligns to 16 on this host */
    slots_mem = malloc((size_t)slots * SLOT_BYTES);
    CHECK(pp_init(prop, &cfg, &port, slots_mem, (size_t)slots * SLOT_BYTES) == 0);
    clear_sent();
    pp_on_connect(prop);
}

static cJSON *result_of(const char *run)
{
    int i;
    for (i = nsent - 1; i >= 0; i--)
        if (strstr(sent[i].topic, "tasks/result")) {
            cJSON *j = cJSON_Parse(sent[i].payload);
            if (!strcmp(s_of(j, "runId"), run)) return j;
            cJSON_Delete(j);
        }
    return NULL;
}

static const char *err_code(const cJSON *r)
{
    return s_of(cJSON_GetObjectItemCaseSensitive(r, "error"), "code");
}

static void test_lease(void)
{
    cJSON *j, *claims;
    char first_mid[64];
    printf("lease: announce, export call with a verifiable receipt, resend until ack, dedup\n");
    nsubs = 0;
    new_proplet(2);
    CHECK(nsubs == 6);
    j = last("/announce");
    CHECK(j && !strcmp(s_of(j, "kind"), "proplet.announce") && cJSON_GetObjectItem(j, "identityKey"));
    CHECK(j && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "capabilities"), "memoryBytes")->valuedouble == 2.0 * 5 * 65536);
    cJSON_Delete(j);
    j = last("/status");
    CHECK(j && !strcmp(s_of(j, "state"), "online"));
    cJSON_Delete(j);

    clear_sent();
    start_inline(prop, "r1", M1, M1_len, "add", "[2,3]", 1000, 65536, "wasi-p1");
    CHECK(count("tasks/accepted") == 1);
    j = result_of("r1");
    CHECK(j && !strcmp(s_of(j, "outcome"), "completed"));
    CHECK(j && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuedouble == 5);
    CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "error")) && pp_is_timestamp(s_of(j, "startedAt")));
    /* the receipt: signed by the announced key, over this run */
    if (j) {
        const char *jws = s_of(j, "receipt");
        const char *d1 = strchr(jws, '.'), *d2 = strrchr(jws, '.');
        static char payload[4096], b64[4096];
        size_t n = (size_t)(d2 - d1 - 1), i;
        pp_key k;
        CHECK(pp_key_from_private(&k, stored_key, &port) == 0 && jws_verifies(jws, &k));
        for (i = 0; i < n; i++) b64[i] = d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
        while (i % 4) b64[i++] = '=';
        payload[pp_b64_decode(b64, i, (uint8_t *)payload, sizeof payload - 1)] = 0;
        claims = cJSON_Parse(payload);
        CHECK(claims && !strcmp(s_of(claims, "runId"), "r1") && !strcmp(s_of(claims, "nonce"), "nonce-nonce-nonce-nonce-1"));
        CHECK(claims && cJSON_IsFalse(cJSON_GetObjectItem(claims, "attested")) && pp_is_digest(s_of(claims, "inputDigest")));
        /* {"args":[],"entrypoint":{"inputs":[2,3],"kind":"export","name":"add"},"env":{},"stdin":""} */
        {
            char want[72];
            const char *jcs = "{\"args\":[],\"entrypoint\":{\"inputs\":[2,3],\"kind\":\"export\",\"name\":\"add\"},\"env\":{},\"stdin\":\"\"}";
            pp_digest((const uint8_t *)jcs, strlen(jcs), want);
            CHECK(claims && !strcmp(s_of(claims, "inputDigest"), want));
        }
        cJSON_Delete(claims);
        snprintf(first_mid, sizeof first_mid, "%s", s_of(j, "messageId"));
    }
    cJSON_Delete(j);
    CHECK(pp_pending_results(prop) == 1 && pp_running(prop) == 0);

    /* not acknowledged: resent after the backoff, as a new message */
    clear_sent();
    pp_tick(prop);
    CHECK(count("tasks/result") == 0);
    mono += 1000;
    pp_tick(prop);
    CHECK(count("tasks/result") == 1);
    j = result_of("r1");
    CHECK(j && strcmp(s_of(j, "messageId"), first_mid) != 0);
    cJSON_Delete(j);
    mono += 1000;
    pp_tick(prop);
    CHECK(count("tasks/result") == 1); /* backoff doubled */
    mono += 1000;
    pp_tick(prop);
    CHECK(count("tasks/result") == 2);
    /* a redelivered start for the finished run resends its result, runs nothing */
    clear_sent();
    start_inline(prop, "r1", M1, M1_len, "add", "[2,3]", 1000, 65536, "wasi-p1");
    CHECK(count("tasks/result") == 1 && count("tasks/accepted") == 0 && pp_get_counters(prop)->runs_started == 1);
    ack(prop, "r1");
    CHECK(pp_pending_results(prop) == 0);
    clear_sent();
    mono += 60000;
    pp_tick(prop);
    CHECK(count("tasks/result") == 0);
    start_inline(prop, "r1", M1, M1_len, "add", "[2,3]", 1000, 65536, "wasi-p1");
    CHECK(nsent == 1 && count("heartbeat") == 1); /* acknowledged: the start is ignored */
    j = last("heartbeat");
    CHECK(j && cJSON_GetObjectItem(j, "freeMemoryBytes")->valuedouble == 2.0 * 5 * 65536);
    cJSON_Delete(j);
}

static void test_outcomes(void)
{
    cJSON *j;
    printf("outcomes: i64/f64 values, fuel stops a loop, trap, memory cap, missing export, bad inputs, imports\n");
    new_proplet(2);
    start_inline(prop, "v1", M1, M1_len, "add64", "[\"9007199254740993\",1]", 1000, 65536, "wasi-p1");
    j = result_of("v1");
    CHECK(j && !strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuestring, "9007199254740994"));
    cJSON_Delete(j);
    start_inline(prop, "v2", M1, M1_len, "half", "[3]", 1000, 65536, "wasi-p1");
    j = result_of("v2");
    CHECK(j && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuedouble == 1.5);
    cJSON_Delete(j);
    start_inline(prop, "v3", M1, M1_len, "add", "[-1,4294967295]", 1000, 65536, "wasi-p1");
    j = result_of("v3");
    CHECK(j && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuedouble == -2);
    cJSON_Delete(j);
    start_inline(prop, "loop", M1, M1_len, "spin", "[]", 50, 65536, "wasi-p1");
    j = result_of("loop");
    CHECK(j && !strcmp(s_of(j, "outcome"), "failed") && !strcmp(err_code(j), "timeout") && s_of(j, "receipt")[0]);
    cJSON_Delete(j);
    start_inline(prop, "trap", M1, M1_len, "boom", "[]", 1000, 65536, "wasi-p1");
    j = result_of("trap");
    CHECK(j && !strcmp(err_code(j), "trap"));
    cJSON_Delete(j);
    start_inline(prop, "bomb", M2, M2_len, "f", "[]", 1000, 65536, "wasi-p1");
    j = result_of("bomb");
    CHECK(j && !strcmp(err_code(j), "memory_limit"));
    cJSON_Delete(j);
    start_inline(prop, "nx", M1, M1_len, "nope", "[]", 1000, 65536, "wasi-p1");
    j = result_of("nx");
    CHECK(j && !strcmp(err_code(j), "export_not_found"));
    cJSON_Delete(j);
    start_inline(prop, "bad", M1, M1_len, "add", "[1]", 1000, 65536, "wasi-p1");
    j = result_of("bad");
    CHECK(j && !strcmp(err_code(j), "invalid_inputs"));
    cJSON_Delete(j);
    start_inline(prop, "bad2", M1, M1_len, "add", "[1.5,2]", 1000, 65536, "wasi-p1");
    j = result_of("bad2");
    CHECK(j && !strcmp(err_code(j), "invalid_inputs"));
    cJSON_Delete(j);
    start_inline(prop, "imp", M3, M3_len, "f", "[]", 1000, 65536, "wasi-p1");
    j = result_of("imp");
    CHECK(j && !strcmp(err_code(j), "invalid_wasm") && strstr(s_of(cJSON_GetObjectItem(j, "error"), "message"), "fd_write"));
    cJSON_Delete(j);
    start_inline(prop, "garbage", (const uint8_t *)"\0asm\2\0\0\0", 8, "f", "[]", 1000, 65536, "wasi-p1");
    j = result_of("garbage");
    CHECK(j && !strcmp(err_code(j), "invalid_wasm"));
    cJSON_Delete(j);
    /* never fits: accepted, answered with a failed result and a reason */
    clear_sent();
    start_inline(prop, "comp", M1, M1_len, "add", "[1,2]", 1000, 65536, "component");
    j = result_of("comp");
    CHECK(count("tasks/accepted") == 1 && j && !strcmp(err_code(j), "unsupported_runtime"));
    cJSON_Delete(j);
    start_inline(prop, "big", M1, M1_len, "add", "[1,2]", 1000, 64u * 1024 * 1024, "wasi-p1");
    j = result_of("big");
    CHECK(j && !strcmp(err_code(j), "insufficient_memory"));
    cJSON_Delete(j);
}

static void chunk_msg(pp_proplet *p, const char *dg, const uint8_t *art, size_t size, uint32_t idx, uint32_t total, int corrupt)
{
    static char b64[4096];
    char env[400], sha[72];
    size_t off = (size_t)idx * 1024, n = off + 1024 > size ? size - off : 1024;
    pp_b64_encode(art + off, n, b64, sizeof b64, 0);
    pp_digest(art + off + (corrupt ? 1 : 0), n - (corrupt ? 1 : 0), sha);
    envelope(env, sizeof env, "artifact.chunk");
    snprintf(buf, sizeof buf, "{%s,\"digest\":\"%s\",\"index\":%u,\"total\":%u,\"sha256\":\"%s\",\"data\":\"%s\"}", env, dg, idx, total, sha, b64);
    deliver(p, "artifacts/chunk", buf);
}

static void test_chunked(void)
{
    static uint8_t art[3000];
    char dg[72], env[400];
    cJSON *j, *ind;
    size_t size;
    printf("chunked delivery: requests in a window, out of order, duplicate, corrupt, busy refusal, stop\n");
    /* M1 and a custom section: 3 chunks of 1024 */
    memcpy(art, M1, M1_len);
    size = M1_len;
    art[size++] = 0;
    art[size++] = 0x80 | ((2500 - 0) & 0x7f);
    art[size++] = (2500 >> 7) & 0x7f;
    art[size++] = 3;
    memcpy(art + size, "pad", 3);
    size += 3;
    memset(art + size, 0xab, 2500 - 4);
    size += 2500 - 4;
    pp_digest(art, size, dg);
    new_proplet(1);
    envelope(env, sizeof env, "task.start");
    snprintf(buf, sizeof buf,
             "{%s,\"taskId\":\"t-c\",\"runId\":\"c\",\"attempt\":1,\"runtime\":\"wasi-p1\",\"artifact\":{\"digest\":\"%s\",\"size\":%zu,"
             "\"location\":{\"kind\":\"mqtt\",\"size\":%zu,\"chunkSize\":1024,\"chunks\":3}},\"entrypoint\":{\"kind\":\"export\","
             "\"name\":\"add\",\"inputs\":[40,2]},\"args\":[],\"env\":{},\"stdin\":\"\",\"limits\":{\"timeoutMs\":1000,"
             "\"memoryBytes\":65536,\"outputBytes\":0},\"receiptNonce\":\"nonce-nonce-nonce-nonce-2\"}",
             env, dg, size, size);
    deliver(prop, "tasks/start", buf);
    j = last("artifacts/request");
    ind = j ? cJSON_GetObjectItem(j, "indices") : NULL;
    CHECK(j && cJSON_GetArraySize(ind) == 3 && !strcmp(s_of(j, "digest"), dg));
    cJSON_Delete(j);
    CHECK(pp_running(prop) == 1);
    /* a second start while the only slot waits: not accepted (busy) */
    clear_sent();
    start_inline(prop, "other", M1, M1_len, "add", "[1,2]", 1000, 65536, "wasi-p1");
    CHECK(nsent == 0 && pp_get_counters(prop)->busy_refusals == 1);
    chunk_msg(prop, dg, art, size, 2, 3, 0);
    chunk_msg(prop, dg, art, size, 2, 3, 0);
    chunk_msg(prop, dg, art, size, 0, 3, 1);
    CHECK(pp_get_counters(prop)->chunks_corrupt == 1 && count("artifacts/request") >= 1);
    chunk_msg(prop, dg, art, size, 0, 3, 0);
    CHECK(result_of("c") == NULL);
    /* a reconnect asks again for what is outstanding */
    pp_on_disconnect(prop);
    clear_sent();
    pp_on_connect(prop);
    j = last("artifacts/request");
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "indices")) == 1 && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "indices"), 0)->valueint == 1);
    cJSON_Delete(j);
    chunk_msg(prop, dg, art, size, 1, 3, 0);
    j = result_of("c");
    CHECK(j && !strcmp(s_of(j, "outcome"), "completed") && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuedouble == 42);
    cJSON_Delete(j);
    CHECK(pp_running(prop) == 0);

    /* stop while waiting for chunks; refused artifact */
    envelope(env, sizeof env, "task.start");
    snprintf(buf, sizeof buf,
             "{%s,\"taskId\":\"t-s\",\"runId\":\"s\",\"attempt\":1,\"runtime\":\"wasi-p1\",\"artifact\":{\"digest\":\"%s\","
             "\"location\":{\"kind\":\"mqtt\",\"size\":%zu,\"chunkSize\":1024,\"chunks\":3}},\"entrypoint\":{\"kind\":\"export\","
             "\"name\":\"add\",\"inputs\":[1,2]},\"args\":[],\"env\":{},\"stdin\":\"\",\"limits\":{\"timeoutMs\":1000,"
             "\"memoryBytes\":65536,\"outputBytes\":0},\"receiptNonce\":\"nonce-nonce-nonce-nonce-3\"}",
             env, dg, size);
    deliver(prop, "tasks/start", buf);
    CHECK(pp_running(prop) == 1);
    envelope(env, sizeof env, "task.stop");
    snprintf(buf, sizeof buf, "{%s,\"taskId\":\"t-s\",\"runId\":\"s\",\"reason\":\"user\"}", env);
    deliver(prop, "tasks/stop", buf);
    j = result_of("s");
    CHECK(j && !strcmp(s_of(j, "outcome"), "stopped") && pp_running(prop) == 0);
    cJSON_Delete(j);
    /* a stop for a run never seen answers stopped, without a receipt */
    envelope(env, sizeof env, "task.stop");
    snprintf(buf, sizeof buf, "{%s,\"taskId\":\"t-u\",\"runId\":\"u\",\"reason\":\"\"}", env);
    deliver(prop, "tasks/stop", buf);
    j = result_of("u");
    CHECK(j && !strcmp(s_of(j, "outcome"), "stopped") && !cJSON_GetObjectItem(j, "receipt"));
    cJSON_Delete(j);
}

static void test_hostile(void)
{
    const pp_counters *c;
    char env[400];
    static char big[300000];
    uint32_t before;
    printf("hostile input: each refused with a log line, nothing published, the proplet keeps serving\n");
    new_proplet(1);
    clear_sent();
    c = pp_get_counters(prop);
    before = c->invalid_messages;
    deliver(prop, "tasks/start", "{not json");
    deliver(prop, "tasks/start", "[1,2]");
    deliver(prop, "tasks/start", "");
    envelope(env, sizeof env, "task.start");
    snprintf(buf, sizeof buf, "{%s}", env);
    deliver(prop, "tasks/start", buf); /* missing fields */
    envelope(env, sizeof env, "task.stop");
    snprintf(buf, sizeof buf, "{%s,\"taskId\":\"t\",\"runId\":\"r\",\"reason\":\"x\"}", env);
    deliver(prop, "tasks/start", buf); /* wrong kind for the topic */
    snprintf(buf, sizeof buf, "{%s,\"taskId\":\"t\",\"runId\":\"r\",\"reason\":\"x\",\"extra\":1}", env);
    deliver(prop, "tasks/stop", buf); /* unknown field */
    snprintf(buf, sizeof buf, "{%s,\"taskId\":\"t\",\"runId\":\"r\",\"reason\":\"x\"}", env);
    *strstr(buf, "\"c1\"") = 0;
    strcat(buf, "\"c2\",\"taskId\":\"t\",\"runId\":\"r\",\"reason\":\"x\"}");
    deliver(prop, "tasks/stop", buf); /* another proplet's message */
    pp_on_message(prop, "propeller/v1/proplets/c2/tasks/start", (const uint8_t *)"{}", 2); /* another proplet's topic */
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    deliver(prop, "tasks/start", big); /* over the size limit */
    deliver(prop, "artifacts/chunk", "{\"kind\":\"artifact.chunk\"}");
    CHECK(c->invalid_messages == before + 10);
    CHECK(nsent == 0);
    /* truncations of a valid start at every length: never accepted, never a crash */
    start_inline(prop, "ok", M1, M1_len, "add", "[1,2]", 1000, 65536, "wasi-p1");
    {
        static char whole[16384];
        size_t n, len;
        memcpy(whole, buf, sizeof whole - 1);
        whole[sizeof whole - 1] = 0;
        len = strlen(whole);
        clear_sent();
        for (n = 0; n < len; n += 7) pp_on_message(prop, "propeller/v1/proplets/c1/tasks/start", (const uint8_t *)whole, n);
        CHECK(count("tasks/accepted") == 0);
    }
    /* still serving */
    start_inline(prop, "after", M1, M1_len, "add", "[20,22]", 1000, 65536, "wasi-p1");
    {
        cJSON *j = result_of("after");
        CHECK(j && cJSON_GetArrayItem(cJSON_GetObjectItem(j, "returnValues"), 0)->valuedouble == 42);
        cJSON_Delete(j);
    }
    /* wrong digest of an inline artifact */
    {
        char *d;
        start_inline(prop, "dg", M1, M1_len, "add", "[1,2]", 1000, 65536, "wasi-p1");
        clear_sent();
        memcpy(big, buf, sizeof big - 1);
        big[sizeof big - 1] = 0;
        d = strstr(big, "sha256:") + 7;
        *d = *d == '0' ? '1' : '0';
        memcpy(strstr(big, "\"runId\":\"dg\""), "\"runId\":\"dh\"", 12);
        memcpy(strstr(big, "\"messageId\":\"m-"), "\"messageId\":\"x-", 15);
        deliver(prop, "tasks/start", big);
        {
            cJSON *j = result_of("dh");
            CHECK(j && !strcmp(err_code(j), "digest_mismatch"));
            cJSON_Delete(j);
        }
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_encodings();
    test_assembler();
    test_receipt_key();
    test_lease();
    test_outcomes();
    test_chunked();
    test_hostile();
    clear_sent();
    free(prop);
    free(slots_mem);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
