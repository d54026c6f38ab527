/* The proplet: presence (status, announce, heartbeat), inbound validation and de-duplication,
 * the lease of every run (task.start -> task.accepted -> result, kept and resent until
 * task.result-ack; stop; run-id de-duplication), artifact delivery (inline and chunked), the run
 * itself on the pwasm engine, results and their receipts. The rules mirror the TypeScript
 * proplet (proplet/lease/leases.ts, proplet/agent/agent.ts):
 * - a start beyond capacity (slots or memory) is not accepted: the manager's lease redelivers;
 * - a start that can never run here is accepted and answered with a failed result and a reason;
 * - a start for a running run is accepted again; for a finished run its result is resent; for
 *   an acknowledged run it is ignored; otherwise messages are de-duplicated by message id;
 * - every result send is a fresh message (new messageId), resent with backoff until acked. */
#include "core_internal.h"
#include "pwasm.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_BYTES (32 * 1024)
#define OUT_BYTES (PP_RESULT_MAX + 1024)

enum { SLOT_FREE = 0, SLOT_WAITING, SLOT_READY };

typedef struct {
    int state;
    char task_id[PP_ID_MAX + 1], run_id[PP_ID_MAX + 1], traceparent[56], nonce[90];
    char export_name[257];
    char inputs[1024];       /* the entrypoint's inputs, as JSON text */
    char input_digest[72], artifact_digest[72];
    uint64_t memory_bytes;
    uint32_t timeout_ms;
    uint8_t *mem;            /* slot_bytes: [artifact][module + instance pool] */
    size_t artifact_len;
    int chunked;
    pp_asm asm_;
} slot;

typedef struct {
    int used;
    char run_id[PP_ID_MAX + 1];
    char traceparent[56];
    uint32_t sends;
    uint64_t next_at, stored; /* stored: insertion order, the oldest is evicted first */
    size_t len;
    char body[PP_RESULT_MAX]; /* the body's JSON without its envelope and outer braces */
} pending;

struct pp_proplet {
    pp_config cfg;
    pp_port port;
    char root[128];
    pp_key key;
    slot slots[PP_MAX_SLOTS];
    pending results[PP_PENDING_MAX];
    uint64_t dedup[PP_DEDUP_MAX];
    uint32_t dedup_next;
    uint64_t ended[PP_ENDED_MAX];
    uint32_t ended_next;
    uint64_t stored_seq;
    int connected;
    uint64_t next_heartbeat;
    uint64_t per_slot_memory;
    pp_counters counters;
    char topic[PP_TOPIC_MAX];
    char out[OUT_BYTES];
    char scratch[SCRATCH_BYTES];
};

size_t pp_size(void) { return sizeof(struct pp_proplet); }

/* ---- small helpers --------------------------------------------------------- */
static void logf_(pp_proplet *p, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!p->port.log) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->port.log(p->port.ctx, level, msg);
}

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h ? h : 1;
}

static int ring_has(const uint64_t *ring, size_t n, uint64_t h)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (ring[i] == h) return 1;
    return 0;
}

static void ended_add(pp_proplet *p, const char *run_id)
{
    uint64_t h = hash_id(run_id);
    if (ring_has(p->ended, PP_ENDED_MAX, h)) return;
    p->ended[p->ended_next++ % PP_ENDED_MAX] = h;
}

/* true (and counted) when this message id was seen before */
static int duplicate(pp_proplet *p, const char *message_id)
{
    uint64_t h = hash_id(message_id);
    if (ring_has(p->dedup, PP_DEDUP_MAX, h)) {
        p->counters.duplicate_messages++;
        return 1;
    }
    p->dedup[p->dedup_next++ % PP_DEDUP_MAX] = h;
    return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = h[b[i] >> 4];
        out[2 * i + 1] = h[b[i] & 15];
    }
    out[2 * n] = 0;
}

static void random_bytes(pp_proplet *p, uint8_t *b, size_t n)
{
    if (p->port.random(p->port.ctx, b, n) != 0) memset(b, 0x5a, n); /* the port logs its failure */
}

static void uuid(pp_proplet *p, char out[37])
{
    uint8_t b[16];
    char h[33];
    random_bytes(p, b, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    hex(b, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* protocol/trace.ts childTraceparent: same trace id and flags, a new parent id */
static void child_traceparent(pp_proplet *p, const char *parent, char out[56])
{
    uint8_t b[24];
    char h[49];
    random_bytes(p, b, sizeof b);
    hex(b, sizeof b, h);
    if (parent && pp_is_traceparent(parent)) snprintf(out, 56, "00-%.32s-%.16s-%.2s", parent + 3, h, parent + 53);
    else snprintf(out, 56, "00-%.32s-%.16s-01", h, h + 32);
}

static const char *topic(pp_proplet *p, const char *name)
{
    snprintf(p->topic, sizeof p->topic, "%s/proplets/%s/%s", p->root, p->cfg.id, name);
    return p->topic;
}

/* Publishes {envelope, <inner>} where inner is a JSON object's members (no braces). */
static int send_inner(pp_proplet *p, const char *name, const char *inner, const char *parent_tp)
{
    char mid[37], ts[32], tp[56];
    int n;
    uuid(p, mid);
    pp_iso_time(p->port.wall_ms(p->port.ctx), ts);
    child_traceparent(p, parent_tp, tp);
    n = snprintf(p->out, sizeof p->out, "{\"version\":1,\"messageId\":\"%s\",\"timestamp\":\"%s\",\"traceparent\":\"%s\",%s}",
                 mid, ts, tp, inner);
    if (n < 0 || (size_t)n >= sizeof p->out) {
        logf_(p, PP_LOG_ERROR, "outgoing %s message too large (%d bytes): not sent", name, n);
        return -1;
    }
    if (!p->connected) return -1;
    return p->port.publish(p->port.ctx, topic(p, name), (const uint8_t *)p->out, (size_t)n);
}

/* Prints a body object into dst as members without the outer braces; -1 when too large. */
static long inner_of(cJSON *body, char *dst, size_t cap)
{
    size_t n;
    if (!cJSON_PrintPreallocated(body, dst, (int)cap - 5, 0)) return -1;
    n = strlen(dst);
    if (n < 2) return -1;
    memmove(dst, dst + 1, n - 2);
    dst[n - 2] = 0;
    return (long)(n - 2);
}

static int send_obj(pp_proplet *p, const char *name, cJSON *body, const char *parent_tp)
{
    int rc = -1;
    if (inner_of(body, p->scratch, sizeof p->scratch) >= 0) rc = send_inner(p, name, p->scratch, parent_tp);
    else logf_(p, PP_LOG_ERROR, "outgoing %s message too large: not sent", name);
    cJSON_Delete(body);
    return rc;
}

static cJSON *body_of(pp_proplet *p, const char *kind)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "propletId", p->cfg.id);
    return o;
}

static uint32_t running_count(const pp_proplet *p)
{
    uint32_t i, n = 0;
    for (i = 0; i < p->cfg.slots; i++) n += p->slots[i].state != SLOT_FREE;
    return n;
}

static uint64_t reserved_memory(const pp_proplet *p)
{
    uint32_t i;
    uint64_t n = 0;
    for (i = 0; i < p->cfg.slots; i++)
        if (p->slots[i].state != SLOT_FREE) n += p->slots[i].memory_bytes;
    return n;
}

static cJSON *running_refs(pp_proplet *p)
{
    cJSON *a = cJSON_CreateArray();
    uint32_t i;
    for (i = 0; i < p->cfg.slots; i++)
        if (p->slots[i].state != SLOT_FREE) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "taskId", p->slots[i].task_id);
            cJSON_AddStringToObject(r, "runId", p->slots[i].run_id);
            cJSON_AddItemToArray(a, r);
        }
    return a;
}

/* ---- presence ------------------------------------------------------------------------- */
static void heartbeat(pp_proplet *p)
{
    cJSON *b = body_of(p, "proplet.heartbeat"), *load = cJSON_CreateObject();
    uint64_t offered = p->per_slot_memory * p->cfg.slots, used = reserved_memory(p);
    cJSON_AddItemToObject(b, "running", running_refs(p));
    cJSON_AddNumberToObject(load, "running", running_count(p));
    cJSON_AddNumberToObject(load, "maxConcurrency", p->cfg.slots);
    cJSON_AddItemToObject(b, "load", load);
    cJSON_AddNumberToObject(b, "freeMemoryBytes", (double)(offered > used ? offered - used : 0));
    cJSON_AddNumberToObject(b, "intervalMs", p->cfg.heartbeat_ms);
    send_obj(p, "heartbeat", b, NULL);
}

static void resend_results(pp_proplet *p, int all);

static void presence(pp_proplet *p)
{
    cJSON *b, *caps, *arr, *sw;
    size_t i;
    b = body_of(p, "proplet.status");
    cJSON_AddStringToObject(b, "state", "online");
    send_obj(p, "status", b, NULL);

    b = body_of(p, "proplet.announce");
    cJSON_AddStringToObject(b, "name", p->cfg.name);
    sw = cJSON_AddObjectToObject(b, "software");
    cJSON_AddStringToObject(sw, "name", "propeller-proplet-c");
    cJSON_AddStringToObject(sw, "version", "0.1.0");
    caps = cJSON_AddObjectToObject(b, "capabilities");
    arr = cJSON_AddArrayToObject(caps, "runtimes");
    cJSON_AddItemToArray(arr, cJSON_CreateString("wasi-p1"));
    arr = cJSON_AddArrayToObject(caps, "artifactSources");
    cJSON_AddItemToArray(arr, cJSON_CreateString("inline"));
    cJSON_AddItemToArray(arr, cJSON_CreateString("mqtt"));
    cJSON_AddNumberToObject(caps, "memoryBytes", (double)(p->per_slot_memory * p->cfg.slots));
    cJSON_AddNumberToObject(caps, "maxConcurrency", p->cfg.slots);
    cJSON_AddNullToObject(caps, "tee");
    arr = cJSON_AddArrayToObject(caps, "tags");
    for (i = 0; i < p->cfg.ntags && i < 4; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(p->cfg.tags[i]));
    cJSON_AddItemToObject(b, "running", running_refs(p));
    cJSON_AddItemToObject(b, "identityKey", cJSON_Parse(p->key.jwk));
    send_obj(p, "announce", b, NULL);
    resend_results(p, 1);
}

/* ---- results -------------------------------------------------------------------------- */
static pending *find_pending(pp_proplet *p, const char *run_id)
{
    int i;
    for (i = 0; i < PP_PENDING_MAX; i++)
        if (p->results[i].used && !strcmp(p->results[i].run_id, run_id)) return &p->results[i];
    return NULL;
}

static void send_result(pp_proplet *p, pending *r)
{
    uint64_t now = p->port.mono_ms(p->port.ctx), delay;
    uint32_t shift;
    if (!p->connected) return; /* resent on reconnect */
    r->sends++;
    shift = r->sends - 1 > 10 ? 10 : r->sends - 1;
    delay = (uint64_t)p->cfg.resend_ms << shift;
    r->next_at = now + (delay > 30000 ? 30000 : delay);
    if (send_inner(p, "tasks/result", r->body, r->traceparent) == 0) p->counters.results_sent++;
    else logf_(p, PP_LOG_WARN, "sending the result of run %s failed; it will be resent", r->run_id);
}

static void resend_results(pp_proplet *p, int all)
{
    uint64_t now = p->port.mono_ms(p->port.ctx);
    int i;
    for (i = 0; i < PP_PENDING_MAX; i++)
        if (p->results[i].used && (all || p->results[i].next_at <= now)) send_result(p, &p->results[i]);
}

typedef struct {
    const char *outcome;      /* completed / failed / stopped */
    const char *code, *message;
    cJSON *values;            /* owned; NULL for none */
    int64_t started_ms;       /* -1: null */
} report;

/* What a run was started with, for the result and its receipt. */
typedef struct {
    const char *task_id, *run_id, *traceparent, *nonce, *input_digest, *artifact_digest;
} run_ref;

static void add_output(cJSON *o, const report *r)
{
    char empty[72];
    pp_digest((const uint8_t *)"", 0, empty);
    /* the key order of protocol/receipt/digests.ts receiptOutput: the manager compares JSON text */
    cJSON_AddStringToObject(o, "stdout", empty);
    cJSON_AddStringToObject(o, "stderr", empty);
    cJSON_AddFalseToObject(o, "stdoutTruncated");
    cJSON_AddFalseToObject(o, "stderrTruncated");
    cJSON_AddNullToObject(o, "exitCode");
    cJSON_AddItemToObject(o, "returnValues", r->values ? cJSON_Duplicate(r->values, 1) : cJSON_CreateNull());
    if (r->code) cJSON_AddStringToObject(o, "errorCode", r->code);
    else cJSON_AddNullToObject(o, "errorCode");
}

/* Builds, signs (when it answers a start: ref->nonce set), stores and sends the result. */
static void finish(pp_proplet *p, const run_ref *ref, report *r)
{
    cJSON *b = body_of(p, "task.result"), *claims = NULL;
    char started[32], finished[32];
    int64_t now = p->port.wall_ms(p->port.ctx);
    pending *slot_r;
    int i;
    long n;
    pp_iso_time(now, finished);
    if (r->started_ms >= 0) pp_iso_time(r->started_ms, started);
    cJSON_AddStringToObject(b, "taskId", ref->task_id);
    cJSON_AddStringToObject(b, "runId", ref->run_id);
    cJSON_AddStringToObject(b, "outcome", r->outcome);
    cJSON_AddNullToObject(b, "exitCode");
    cJSON_AddItemToObject(b, "returnValues", r->values ? cJSON_Duplicate(r->values, 1) : cJSON_CreateNull());
    cJSON_AddStringToObject(b, "stdout", "");
    cJSON_AddStringToObject(b, "stderr", "");
    cJSON_AddFalseToObject(b, "stdoutTruncated");
    cJSON_AddFalseToObject(b, "stderrTruncated");
    if (r->code) {
        cJSON *e = cJSON_AddObjectToObject(b, "error");
        char msg[1024];
        cJSON_AddStringToObject(e, "code", r->code);
        snprintf(msg, sizeof msg, "%s", r->message ? r->message : r->code);
        cJSON_AddStringToObject(e, "message", msg);
    } else cJSON_AddNullToObject(b, "error");
    if (r->started_ms >= 0) cJSON_AddStringToObject(b, "startedAt", started);
    else cJSON_AddNullToObject(b, "startedAt");
    cJSON_AddStringToObject(b, "finishedAt", finished);

    if (ref->nonce) {
        /* protocol/receipt/build.ts buildReceiptClaims, unattested: signed by the identity key */
        cJSON *w, *o;
        char *text;
        claims = cJSON_CreateObject();
        cJSON_AddNumberToObject(claims, "receiptVersion", 1);
        cJSON_AddStringToObject(claims, "taskId", ref->task_id);
        cJSON_AddStringToObject(claims, "runId", ref->run_id);
        cJSON_AddStringToObject(claims, "nonce", ref->nonce);
        cJSON_AddStringToObject(claims, "propletId", p->cfg.id);
        cJSON_AddNullToObject(claims, "tee");
        cJSON_AddFalseToObject(claims, "attested");
        w = cJSON_AddObjectToObject(claims, "workload");
        cJSON_AddStringToObject(w, "plaintext", ref->artifact_digest);
        cJSON_AddNullToObject(w, "ciphertext");
        cJSON_AddStringToObject(claims, "inputDigest", ref->input_digest);
        o = cJSON_AddObjectToObject(claims, "output");
        add_output(o, r);
        cJSON_AddStringToObject(claims, "outcome", r->outcome);
        if (r->started_ms >= 0) cJSON_AddStringToObject(claims, "startedAt", started);
        else cJSON_AddNullToObject(claims, "startedAt");
        cJSON_AddStringToObject(claims, "finishedAt", finished);
        cJSON_AddNullToObject(claims, "earToken");
        cJSON_AddNumberToObject(claims, "iat", (double)(now / 1000));
        text = cJSON_PrintUnformatted(claims);
        cJSON_Delete(claims);
        n = text ? pp_jws_sign(&p->key, &p->port, text, strlen(text), p->scratch, sizeof p->scratch) : -1;
        cJSON_free(text);
        if (n < 0) logf_(p, PP_LOG_ERROR, "signing the receipt of run %s failed: sent without one", ref->run_id);
        else cJSON_AddStringToObject(b, "receipt", p->scratch);
    }
    if (r->values) cJSON_Delete(r->values);
    r->values = NULL;

    /* store (evicting the oldest unacknowledged result when full), then send */
    slot_r = find_pending(p, ref->run_id);
    for (i = 0; !slot_r && i < PP_PENDING_MAX; i++)
        if (!p->results[i].used) slot_r = &p->results[i];
    if (!slot_r) {
        pending *oldest = &p->results[0];
        for (i = 1; i < PP_PENDING_MAX; i++)
            if (p->results[i].stored < oldest->stored) oldest = &p->results[i];
        logf_(p, PP_LOG_ERROR, "pending-results store full: dropped the unacknowledged result of run %s", oldest->run_id);
        p->counters.results_dropped++;
        ended_add(p, oldest->run_id);
        slot_r = oldest;
    }
    memset(slot_r, 0, offsetof(pending, body));
    n = inner_of(b, slot_r->body, sizeof slot_r->body);
    cJSON_Delete(b);
    if (n < 0) {
        logf_(p, PP_LOG_ERROR, "the result of run %s does not fit %d bytes: not sent", ref->run_id, PP_RESULT_MAX);
        return;
    }
    slot_r->used = 1;
    slot_r->stored = ++p->stored_seq;
    slot_r->len = (size_t)n;
    snprintf(slot_r->run_id, sizeof slot_r->run_id, "%s", ref->run_id);
    snprintf(slot_r->traceparent, sizeof slot_r->traceparent, "%s", ref->traceparent ? ref->traceparent : "");
    logf_(p, PP_LOG_INFO, "run %s finished: %s%s%s", ref->run_id, r->outcome, r->code ? " " : "", r->code ? r->code : "");
    send_result(p, slot_r);
}

static run_ref ref_of(const slot *s)
{
    run_ref r;
    r.task_id = s->task_id;
    r.run_id = s->run_id;
    r.traceparent = s->traceparent;
    r.nonce = s->nonce;
    r.input_digest = s->input_digest;
    r.artifact_digest = s->artifact_digest;
    return r;
}

static void fail_slot(pp_proplet *p, slot *s, const char *outcome, const char *code, const char *msg, int64_t started)
{
    run_ref ref = ref_of(s);
    report r;
    r.outcome = outcome;
    r.code = code;
    r.message = msg;
    r.values = NULL;
    r.started_ms = started;
    finish(p, &ref, &r);
    s->state = SLOT_FREE;
}

/* ---- running ---------------------------------------------------------------------------- */
/* protocol/messages/common.ts WasmValue → an argument of type t (proplet/execute/values.ts). */
static int to_arg(const cJSON *v, uint8_t t, pw_value *out, char *why, size_t cap, int i)
{
    out->type = t;
    out->of.i64 = 0;
    if (t == PW_I32 || t == PW_I64) {
        long long x;
        if (cJSON_IsNumber(v)) {
            double d = v->valuedouble;
            if (d != floor(d) || fabs(d) > 9007199254740991.0) { snprintf(why, cap, "input %d: %g is not an integer (use a decimal string beyond 2^53)", i, d); return 0; }
            x = (long long)d;
        } else if (cJSON_IsString(v)) {
            char *end;
            unsigned long long u;
            const char *s = v->valuestring;
            int neg = s[0] == '-';
            if (!s[neg] || strlen(s) > 21) { snprintf(why, cap, "input %d is not a decimal integer", i); return 0; }
            u = strtoull(s + neg, &end, 10);
            if (*end) { snprintf(why, cap, "input %d is not a decimal integer", i); return 0; }
            if (t == PW_I64) { out->of.i64 = neg ? (uint64_t)0 - u : u; return 1; }
            if ((!neg && u > 0xFFFFFFFFull) || (neg && u > 0x80000000ull)) { snprintf(why, cap, "input %d does not fit an i32", i); return 0; }
            x = neg ? -(long long)u : (long long)u;
        } else { snprintf(why, cap, "input %d is not a number", i); return 0; }
        if (t == PW_I32) {
            if (x < -2147483648LL || x > 4294967295LL) { snprintf(why, cap, "input %d: %lld does not fit an i32", i, x); return 0; }
            out->of.i32 = (uint32_t)x;
        } else out->of.i64 = (uint64_t)x;
        return 1;
    }
    {
        double d;
        if (cJSON_IsNumber(v)) d = v->valuedouble;
        else if (cJSON_IsString(v)) d = strtod(v->valuestring, NULL);
        else { snprintf(why, cap, "input %d is not a number", i); return 0; }
        if (!isfinite(d)) { snprintf(why, cap, "input %d is not a finite number", i); return 0; }
        if (t == PW_F32) { float f = (float)d; memcpy(&out->of.f32_bits, &f, 4); }
        else memcpy(&out->of.f64_bits, &d, 8);
    }
    return 1;
}

static cJSON *from_result(const pw_value *v, char *why, size_t cap, int i)
{
    char num[32];
    switch (v->type) {
    case PW_I32: return cJSON_CreateNumber((double)(int32_t)v->of.i32);
    case PW_I64: snprintf(num, sizeof num, "%lld", (long long)(int64_t)v->of.i64); return cJSON_CreateString(num);
    case PW_F32: {
        float f;
        memcpy(&f, &v->of.f32_bits, 4);
        if (isfinite(f)) return cJSON_CreateNumber((double)f);
        break;
    }
    default: {
        double d;
        memcpy(&d, &v->of.f64_bits, 8);
        if (isfinite(d)) return cJSON_CreateNumber(d);
    }
    }
    snprintf(why, cap, "result %d is not finite, which JSON cannot carry", i);
    return NULL;
}

static void run_slot(pp_proplet *p, slot *s)
{
    pw_pool mod_pool, inst_pool;
    pw_module *m;
    pw_instance *inst;
    pw_imports *imp;
    pw_error err;
    pw_limits lim = pw_default_limits();
    pw_extern ext;
    pw_value args[PP_INPUTS_MAX], res[PP_INPUTS_MAX];
    uint8_t pt[PP_INPUTS_MAX], rt[PP_INPUTS_MAX];
    uint32_t np, nr, nres = 0, i;
    size_t off = (s->artifact_len + 15) & ~(size_t)15;
    int64_t started = p->port.wall_ms(p->port.ctx);
    char why[300];
    cJSON *inputs = NULL, *values;
    const cJSON *in;
    pw_status st;
    report r;

    memset(&err, 0, sizeof err);
    lim.max_pages = (uint32_t)(s->memory_bytes / 65536);
    lim.stack_slots = 4096;
    lim.max_frames = 256;
    if (off >= p->cfg.slot_bytes) { fail_slot(p, s, "failed", "memory_limit", "no room left in the run slot for the module", started); return; }
    pw_pool_init(&mod_pool, s->mem + off, p->cfg.slot_bytes - off);
    st = pw_load(s->mem, s->artifact_len, &mod_pool, &lim, &m, &err);
    if (st != PW_OK) {
        snprintf(why, sizeof why, "the module does not load: %s", err.msg);
        fail_slot(p, s, "failed", st == PW_ERR_NOMEM ? "memory_limit" : "invalid_wasm", why, started);
        return;
    }
    /* the instance pool is the rest of the slot: its linear memory is allocated last and grows in place */
    pw_pool_init(&inst_pool, mod_pool.base + ((mod_pool.used + 15) & ~(size_t)15), mod_pool.size - ((mod_pool.used + 15) & ~(size_t)15));
    imp = pw_imports_new(&inst_pool);
    st = imp ? pw_instantiate(m, imp, &inst_pool, &lim, &inst, &err) : PW_ERR_NOMEM;
    if (st != PW_OK) {
        const char *code = st == PW_ERR_TRAP ? "trap" : (st == PW_ERR_NOMEM || st == PW_ERR_LIMIT) ? "memory_limit" : "invalid_wasm";
        snprintf(why, sizeof why, st == PW_ERR_LINK ? "the module imports what this proplet does not provide (%s)" : "the module does not instantiate: %s", err.msg);
        fail_slot(p, s, "failed", code, why, started);
        return;
    }
    if (pw_get_export(inst, s->export_name, &ext) != PW_OK || ext.kind != PW_EXTERN_FUNC) {
        snprintf(why, sizeof why, "the module exports no function \"%.200s\"", s->export_name);
        fail_slot(p, s, "failed", "export_not_found", why, started);
        return;
    }
    if (pw_func_signature(ext.of.func, pt, &np, rt, &nr, PP_INPUTS_MAX) != PW_OK) {
        fail_slot(p, s, "failed", "unsupported_signature", "the export has too many parameters or results", started);
        return;
    }
    inputs = cJSON_Parse(s->inputs);
    if (!cJSON_IsArray(inputs) || (uint32_t)cJSON_GetArraySize(inputs) != np) {
        snprintf(why, sizeof why, "export \"%.200s\" takes %u input(s), got %d", s->export_name, np, inputs ? cJSON_GetArraySize(inputs) : 0);
        cJSON_Delete(inputs);
        fail_slot(p, s, "failed", "invalid_inputs", why, started);
        return;
    }
    i = 0;
    cJSON_ArrayForEach(in, inputs) {
        if (!to_arg(in, pt[i], &args[i], why, sizeof why, (int)i)) {
            cJSON_Delete(inputs);
            fail_slot(p, s, "failed", "invalid_inputs", why, started);
            return;
        }
        i++;
    }
    cJSON_Delete(inputs);
    /* the time budget as fuel: a runaway loop is stopped when it runs out */
    pw_set_fuel(inst, (uint64_t)s->timeout_ms * p->cfg.fuel_per_ms);
    st = pw_call(inst, s->export_name, args, np, res, PP_INPUTS_MAX, &nres, &err);
    if (st == PW_ERR_TRAP && err.trap == PW_TRAP_FUEL_EXHAUSTED) {
        snprintf(why, sizeof why, "the run exceeded its %u ms time limit and was terminated", s->timeout_ms);
        fail_slot(p, s, "failed", "timeout", why, started);
        return;
    }
    if (st == PW_ERR_TRAP) {
        snprintf(why, sizeof why, "the module trapped: %s", err.msg);
        fail_slot(p, s, "failed", "trap", why, started);
        return;
    }
    if (st != PW_OK) {
        snprintf(why, sizeof why, "the call failed: %s", err.msg);
        fail_slot(p, s, "failed", "runtime_error", why, started);
        return;
    }
    values = cJSON_CreateArray();
    for (i = 0; i < nres; i++) {
        cJSON *v = from_result(&res[i], why, sizeof why, (int)i);
        if (!v) {
            cJSON_Delete(values);
            fail_slot(p, s, "failed", "unsupported_signature", why, started);
            return;
        }
        cJSON_AddItemToArray(values, v);
    }
    {
        run_ref ref = ref_of(s);
        r.outcome = "completed";
        r.code = NULL;
        r.message = NULL;
        r.values = values;
        r.started_ms = started;
        finish(p, &ref, &r);
        s->state = SLOT_FREE;
    }
}

/* ---- artifacts -------------------------------------------------------------------------- */
static void request_chunks(pp_proplet *p, slot *s, int all)
{
    uint32_t idx[PP_CHUNK_WINDOW];
    int n = pp_asm_due(&s->asm_, p->port.mono_ms(p->port.ctx), p->cfg.chunk_timeout_ms, all, idx, PP_CHUNK_WINDOW), i;
    cJSON *b, *arr;
    if (n < 0) { fail_slot(p, s, "failed", s->asm_.error_code, s->asm_.error, -1); return; }
    if (n == 0 || !p->connected) return;
    b = body_of(p, "artifact.request");
    cJSON_AddStringToObject(b, "digest", s->asm_.digest);
    arr = cJSON_AddArrayToObject(b, "indices");
    for (i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(idx[i]));
    if (send_obj(p, "artifacts/request", b, s->traceparent) != 0) logf_(p, PP_LOG_WARN, "artifact request not sent (asked again)");
}

/* ---- inbound: validation ------------------------------------------------------------------ */
static const cJSON *field(const cJSON *o, const char *name) { return cJSON_GetObjectItemCaseSensitive(o, name); }

static const char *str(const cJSON *o, const char *name, size_t max)
{
    const cJSON *v = field(o, name);
    return cJSON_IsString(v) && strlen(v->valuestring) <= max ? v->valuestring : NULL;
}

static int integer(const cJSON *o, const char *name, double lo, double hi, double *out)
{
    const cJSON *v = field(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) return 0;
    if (out) *out = v->valuedouble;
    return 1;
}

/* additionalProperties: false */
static int only_keys(const cJSON *o, const char *const *keys)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, o) {
        const char *const *k;
        for (k = keys; *k; k++)
            if (!strcmp(*k, e->string)) break;
        if (!*k) return 0;
    }
    return 1;
}

static int is_base64(const char *s)
{
    size_t n = strlen(s), i;
    if (n % 4) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/') continue;
        if (c == '=' && (i + 1 == n || (i + 2 == n && s[i + 1] == '='))) continue;
        return 0;
    }
    return 1;
}

static int is_nonce(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;
    if (n < 22 || n > 86) return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-')) return 0;
    return 1;
}

#define ENVELOPE "version", "messageId", "timestamp", "traceparent", "kind", "propletId"

/* The envelope every message carries (protocol/messages/common.ts) and the proplet it names. */
static const char *check_envelope(pp_proplet *p, const cJSON *m, const char *kind)
{
    double v;
    const char *k = str(m, "kind", 64);
    if (!integer(m, "version", 1, 1, &v)) return "version must be 1";
    if (!pp_is_id(str(m, "messageId", 128))) return "messageId is missing or malformed";
    if (!pp_is_timestamp(str(m, "timestamp", 40))) return "timestamp is missing or malformed";
    if (!pp_is_traceparent(str(m, "traceparent", 55))) return "traceparent is missing or malformed";
    if (!k || (kind && strcmp(k, kind))) return "kind does not match the topic";
    if (strcmp(k, "manager.online") && (!str(m, "propletId", PP_ID_MAX) || strcmp(str(m, "propletId", PP_ID_MAX), p->cfg.id)))
        return "the message names another proplet";
    return NULL;
}

static const char *check_start(const cJSON *m)
{
    static const char *const keys[] = {ENVELOPE, "taskId", "runId", "attempt", "runtime", "artifact", "entrypoint", "args", "env", "stdin", "limits", "receiptNonce", "confidential", "grants", NULL};
    static const char *const art_keys[] = {"digest", "size", "location", NULL};
    static const char *const lim_keys[] = {"timeoutMs", "memoryBytes", "outputBytes", NULL};
    const cJSON *a = field(m, "artifact"), *loc, *e = field(m, "entrypoint"), *l = field(m, "limits"), *x;
    const char *rt = str(m, "runtime", 16), *lk;
    if (!only_keys(m, keys)) return "unknown field";
    if (!pp_is_id(str(m, "taskId", 128)) || !pp_is_id(str(m, "runId", 128))) return "taskId/runId malformed";
    if (!integer(m, "attempt", 1, 1000, NULL)) return "attempt out of range";
    if (!rt || (strcmp(rt, "wasi-p1") && strcmp(rt, "component") && strcmp(rt, "wasi-http"))) return "runtime unknown";
    if (!cJSON_IsObject(a) || !only_keys(a, art_keys) || !pp_is_digest(str(a, "digest", 71))) return "artifact malformed";
    if (field(a, "size") && !integer(a, "size", 0, 4294967296.0 * 1024, NULL)) return "artifact size malformed";
    loc = field(a, "location");
    lk = cJSON_IsObject(loc) ? str(loc, "kind", 16) : NULL;
    if (!lk) return "artifact location malformed";
    if (!strcmp(lk, "inline")) {
        static const char *const k[] = {"kind", "data", NULL};
        const char *d = str(loc, "data", 5592408);
        if (!only_keys(loc, k) || !d || !is_base64(d)) return "inline artifact malformed";
    } else if (!strcmp(lk, "mqtt")) {
        static const char *const k[] = {"kind", "size", "chunkSize", "chunks", NULL};
        if (!only_keys(loc, k) || !integer(loc, "size", 1, 4294967296.0, NULL) || !integer(loc, "chunkSize", 1024, 1048576, NULL) ||
            !integer(loc, "chunks", 1, 4194304, NULL))
            return "mqtt artifact malformed";
    } else if (strcmp(lk, "http") && strcmp(lk, "oci")) return "artifact location unknown";
    if (!cJSON_IsObject(e) || !str(e, "kind", 16)) return "entrypoint malformed";
    if (!strcmp(str(e, "kind", 16), "export")) {
        static const char *const k1[] = {"kind", "name", "inputs", NULL};
        static const char *const k2[] = {"kind", "name", "args", NULL};
        const char *n = str(e, "name", 256);
        if (!n || !*n) return "entrypoint name malformed";
        if (field(e, "inputs")) {
            if (!only_keys(e, k1) || !cJSON_IsArray(field(e, "inputs")) || cJSON_GetArraySize(field(e, "inputs")) > 64) return "entrypoint inputs malformed";
            cJSON_ArrayForEach(x, field(e, "inputs")) if (!cJSON_IsNumber(x) && !cJSON_IsString(x)) return "entrypoint input malformed";
        } else if (!only_keys(e, k2) || !str(e, "args", 65536)) return "entrypoint malformed";
    } else if (strcmp(str(e, "kind", 16), "wasi") || cJSON_GetArraySize(e) != 1) return "entrypoint malformed";
    if (!cJSON_IsArray(field(m, "args")) || cJSON_GetArraySize(field(m, "args")) > 256) return "args malformed";
    cJSON_ArrayForEach(x, field(m, "args")) if (!cJSON_IsString(x) || strlen(x->valuestring) > 4096) return "args malformed";
    if (!cJSON_IsObject(field(m, "env")) || cJSON_GetArraySize(field(m, "env")) > 256) return "env malformed";
    cJSON_ArrayForEach(x, field(m, "env")) if (!cJSON_IsString(x)) return "env malformed";
    if (!str(m, "stdin", 1398104) || !is_base64(str(m, "stdin", 1398104))) return "stdin malformed";
    if (!cJSON_IsObject(l) || !only_keys(l, lim_keys) || !integer(l, "timeoutMs", 1, 86400000, NULL) ||
        !integer(l, "memoryBytes", 65536, 4294967296.0, NULL) || !integer(l, "outputBytes", 0, 4194304, NULL))
        return "limits malformed";
    if (!is_nonce(str(m, "receiptNonce", 86))) return "receiptNonce malformed";
    if (field(m, "confidential") && !cJSON_IsObject(field(m, "confidential"))) return "confidential malformed";
    if (field(m, "grants") && !cJSON_IsObject(field(m, "grants"))) return "grants malformed";
    return NULL;
}

/* ---- inbound: the lease ------------------------------------------------------------------ */
static slot *find_slot(pp_proplet *p, const char *run_id)
{
    uint32_t i;
    for (i = 0; i < p->cfg.slots; i++)
        if (p->slots[i].state != SLOT_FREE && !strcmp(p->slots[i].run_id, run_id)) return &p->slots[i];
    return NULL;
}

static void accept_run(pp_proplet *p, const char *task_id, const char *run_id, const char *tp)
{
    cJSON *b = body_of(p, "task.accepted");
    cJSON_AddStringToObject(b, "taskId", task_id);
    cJSON_AddStringToObject(b, "runId", run_id);
    if (send_obj(p, "tasks/accepted", b, tp) != 0) logf_(p, PP_LOG_WARN, "sending task.accepted failed (the manager will redeliver)");
}

/* sha256 of the JCS of {entrypoint, args, env, stdin[, grants]} (protocol/receipt/digests.ts) */
static int input_digest(pp_proplet *p, const cJSON *m, char out[72])
{
    cJSON *o = cJSON_CreateObject();
    long n;
    cJSON_AddItemToObject(o, "entrypoint", cJSON_Duplicate(field(m, "entrypoint"), 1));
    cJSON_AddItemToObject(o, "args", cJSON_Duplicate(field(m, "args"), 1));
    cJSON_AddItemToObject(o, "env", cJSON_Duplicate(field(m, "env"), 1));
    cJSON_AddItemToObject(o, "stdin", cJSON_Duplicate(field(m, "stdin"), 1));
    if (field(m, "grants")) cJSON_AddItemToObject(o, "grants", cJSON_Duplicate(field(m, "grants"), 1));
    n = pp_jcs(o, p->scratch, sizeof p->scratch);
    cJSON_Delete(o);
    if (n < 0) return -1;
    pp_digest((const uint8_t *)p->scratch, (size_t)n, out);
    return 0;
}

/* Why a start can never run here, or NULL. */
static const char *never_fits(pp_proplet *p, const cJSON *m, char *why, size_t cap, const char **code)
{
    const cJSON *e = field(m, "entrypoint"), *loc = field(field(m, "artifact"), "location");
    const char *lk = str(loc, "kind", 16);
    double mem = field(field(m, "limits"), "memoryBytes")->valuedouble;
    if (strcmp(str(m, "runtime", 16), "wasi-p1")) {
        *code = "unsupported_runtime";
        snprintf(why, cap, "this proplet runs wasi-p1 core modules, not %s", str(m, "runtime", 16));
    } else if (field(m, "confidential")) {
        *code = "confidential_unsupported";
        snprintf(why, cap, "this proplet has no TEE and cannot run confidential workloads");
    } else if (strcmp(str(e, "kind", 16), "export") || !field(e, "inputs")) {
        *code = "unsupported_entrypoint";
        snprintf(why, cap, "this proplet calls core-module exports with numeric inputs only (no WASI commands, no components)");
    } else if (field(m, "grants")) {
        *code = "unsupported_grants";
        snprintf(why, cap, "this proplet grants no directories or hosts");
    } else if (strcmp(lk, "inline") && strcmp(lk, "mqtt")) {
        *code = "unsupported_source";
        snprintf(why, cap, "this proplet takes inline and mqtt artifacts, not %s", lk);
    } else if (mem > (double)p->per_slot_memory) {
        *code = "insufficient_memory";
        snprintf(why, cap, "the run asks for %.0f bytes of memory; a run slot of this proplet offers %llu", mem, (unsigned long long)p->per_slot_memory);
    } else {
        size_t size = !strcmp(lk, "mqtt") ? (size_t)field(loc, "size")->valuedouble : pp_b64_decoded_size(str(loc, "data", 5592408), strlen(str(loc, "data", 5592408)));
        if (size > p->cfg.artifact_max) {
            *code = "artifact_too_large";
            snprintf(why, cap, "the artifact is %zu bytes; this proplet accepts at most %zu", size, p->cfg.artifact_max);
        } else return NULL;
    }
    return why;
}

static void on_start(pp_proplet *p, const cJSON *m)
{
    const char *task_id = str(m, "taskId", 128), *run_id = str(m, "runId", 128), *tp = str(m, "traceparent", 55);
    const char *mid = str(m, "messageId", 128), *code = NULL, *never;
    const cJSON *a = field(m, "artifact"), *loc = field(a, "location"), *e = field(m, "entrypoint");
    const cJSON *lim = field(m, "limits");
    char why[300];
    slot *s;
    pending *done;
    uint32_t i;
    char *txt;

    if ((s = find_slot(p, run_id))) { accept_run(p, task_id, run_id, tp); return; }
    if ((done = find_pending(p, run_id))) { send_result(p, done); return; }
    if (ring_has(p->ended, PP_ENDED_MAX, hash_id(run_id))) {
        logf_(p, PP_LOG_INFO, "start for run %s, which already ended here and was acknowledged: ignored", run_id);
        return;
    }
    never = never_fits(p, m, why, sizeof why, &code);
    if (never) {
        slot tmp;
        run_ref ref;
        report r;
        if (duplicate(p, mid)) return;
        memset(&tmp, 0, sizeof tmp);
        accept_run(p, task_id, run_id, tp);
        if (input_digest(p, m, tmp.input_digest) != 0) pp_digest((const uint8_t *)"", 0, tmp.input_digest);
        snprintf(tmp.task_id, sizeof tmp.task_id, "%s", task_id);
        snprintf(tmp.run_id, sizeof tmp.run_id, "%s", run_id);
        snprintf(tmp.traceparent, sizeof tmp.traceparent, "%s", tp);
        snprintf(tmp.nonce, sizeof tmp.nonce, "%s", str(m, "receiptNonce", 86));
        snprintf(tmp.artifact_digest, sizeof tmp.artifact_digest, "%s", str(a, "digest", 71));
        ref = ref_of(&tmp);
        r.outcome = "failed";
        r.code = code;
        r.message = never;
        r.values = NULL;
        r.started_ms = -1;
        logf_(p, PP_LOG_INFO, "run %s refused: %s: %s", run_id, code, never);
        finish(p, &ref, &r);
        return;
    }
    s = NULL;
    if (running_count(p) < p->cfg.slots && reserved_memory(p) + (uint64_t)field(lim, "memoryBytes")->valuedouble <= p->per_slot_memory * p->cfg.slots)
        for (i = 0; i < p->cfg.slots && !s; i++)
            if (p->slots[i].state == SLOT_FREE) s = &p->slots[i];
    if (!s) {
        /* not accepted and the message id not remembered: the manager's redelivery is welcome */
        p->counters.busy_refusals++;
        logf_(p, PP_LOG_INFO, "busy: start of run %s not accepted (the manager's lease will redeliver)", run_id);
        return;
    }
    if (duplicate(p, mid)) return;
    memset(s, 0, offsetof(slot, mem));
    snprintf(s->task_id, sizeof s->task_id, "%s", task_id);
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    snprintf(s->traceparent, sizeof s->traceparent, "%s", tp);
    snprintf(s->nonce, sizeof s->nonce, "%s", str(m, "receiptNonce", 86));
    snprintf(s->export_name, sizeof s->export_name, "%s", str(e, "name", 256));
    snprintf(s->artifact_digest, sizeof s->artifact_digest, "%s", str(a, "digest", 71));
    s->memory_bytes = (uint64_t)field(lim, "memoryBytes")->valuedouble;
    s->timeout_ms = (uint32_t)field(lim, "timeoutMs")->valuedouble;
    s->state = SLOT_WAITING;
    p->counters.runs_started++;
    accept_run(p, task_id, run_id, tp);
    txt = cJSON_PrintUnformatted(field(e, "inputs"));
    if (!txt || strlen(txt) >= sizeof s->inputs) {
        cJSON_free(txt);
        fail_slot(p, s, "failed", "invalid_inputs", "the inputs are too long for this proplet", -1);
        return;
    }
    snprintf(s->inputs, sizeof s->inputs, "%s", txt);
    cJSON_free(txt);
    if (input_digest(p, m, s->input_digest) != 0) {
        fail_slot(p, s, "failed", "invalid_inputs", "the run's input does not fit this proplet", -1);
        return;
    }
    if (!strcmp(str(loc, "kind", 16), "inline")) {
        const char *data = str(loc, "data", 5592408);
        long n = pp_b64_decode(data, strlen(data), s->mem, p->cfg.artifact_max);
        char d[72];
        if (n < 0) { fail_slot(p, s, "failed", "artifact_invalid", "the inline artifact is not valid base64", -1); return; }
        pp_digest(s->mem, (size_t)n, d);
        if (strcmp(d, s->artifact_digest)) {
            snprintf(why, sizeof why, "artifact digest mismatch: expected %s, got %s", s->artifact_digest, d);
            fail_slot(p, s, "failed", "digest_mismatch", why, -1);
            return;
        }
        s->artifact_len = (size_t)n;
        run_slot(p, s);
        return;
    }
    if (field(a, "size") && field(a, "size")->valuedouble != field(loc, "size")->valuedouble) {
        fail_slot(p, s, "failed", "artifact_invalid", "the task's artifact size and the delivery's size differ", -1);
        return;
    }
    s->chunked = 1;
    if (pp_asm_begin(&s->asm_, s->mem, p->cfg.artifact_max, s->artifact_digest, (size_t)field(loc, "size")->valuedouble,
                     (uint32_t)field(loc, "chunkSize")->valuedouble, (uint32_t)field(loc, "chunks")->valuedouble) != 0) {
        fail_slot(p, s, "failed", s->asm_.error_code, s->asm_.error, -1);
        return;
    }
    request_chunks(p, s, 0);
}

static void on_stop(pp_proplet *p, const cJSON *m)
{
    static const char *const keys[] = {ENVELOPE, "taskId", "runId", "reason", NULL};
    const char *run_id = str(m, "runId", 128), *task_id = str(m, "taskId", 128), *reason = str(m, "reason", 512);
    slot *s;
    pending *done;
    if (!only_keys(m, keys) || !pp_is_id(run_id) || !pp_is_id(task_id) || !reason) { p->counters.invalid_messages++; logf_(p, PP_LOG_WARN, "dropped an invalid task.stop"); return; }
    if (duplicate(p, str(m, "messageId", 128))) return;
    if ((s = find_slot(p, run_id))) {
        /* runs execute to completion inside one call (bounded by fuel): a slot found here is
         * waiting for its artifact, and stops now */
        fail_slot(p, s, "stopped", "stopped", *reason ? reason : "stopped by request", -1);
        return;
    }
    if ((done = find_pending(p, run_id))) { send_result(p, done); return; }
    if (ring_has(p->ended, PP_ENDED_MAX, hash_id(run_id))) return;
    {
        /* a stop for an unknown run answers "stopped" (no receipt: there is no nonce to bind) */
        run_ref ref;
        report r;
        memset(&ref, 0, sizeof ref);
        ref.task_id = task_id;
        ref.run_id = run_id;
        ref.traceparent = str(m, "traceparent", 55);
        r.outcome = "stopped";
        r.code = "stopped";
        r.message = *reason ? reason : "stopped before it started";
        r.values = NULL;
        r.started_ms = -1;
        finish(p, &ref, &r);
    }
}

static void on_result_ack(pp_proplet *p, const cJSON *m)
{
    static const char *const keys[] = {ENVELOPE, "taskId", "runId", NULL};
    const char *run_id = str(m, "runId", 128);
    pending *r;
    if (!only_keys(m, keys) || !pp_is_id(run_id) || !pp_is_id(str(m, "taskId", 128))) { p->counters.invalid_messages++; logf_(p, PP_LOG_WARN, "dropped an invalid task.result-ack"); return; }
    if ((r = find_pending(p, run_id))) {
        r->used = 0;
        p->counters.results_acked++;
    }
    ended_add(p, run_id);
}

static void on_chunk(pp_proplet *p, const cJSON *m)
{
    static const char *const chunk_keys[] = {ENVELOPE, "digest", "index", "total", "sha256", "data", NULL};
    static const char *const refused_keys[] = {ENVELOPE, "digest", "code", "message", NULL};
    const char *kind = str(m, "kind", 32), *digest = str(m, "digest", 71);
    uint32_t i;
    int any = 0;
    if (!pp_is_digest(digest)) goto invalid;
    if (!strcmp(kind, "artifact.refused")) {
        char why[300];
        if (!only_keys(m, refused_keys) || !str(m, "code", 64) || !str(m, "message", 1024)) goto invalid;
        snprintf(why, sizeof why, "the manager refused artifact %s: %s: %.200s", digest, str(m, "code", 64), str(m, "message", 1024));
        for (i = 0; i < p->cfg.slots; i++)
            if (p->slots[i].state == SLOT_WAITING && p->slots[i].chunked && !strcmp(p->slots[i].artifact_digest, digest))
                fail_slot(p, &p->slots[i], "failed", "artifact_refused", why, -1);
        return;
    }
    {
        double index, total;
        const char *sha = str(m, "sha256", 71), *data = str(m, "data", 1398104);
        if (!only_keys(m, chunk_keys) || !integer(m, "index", 0, 4194303, &index) || !integer(m, "total", 1, 4194304, &total) ||
            !pp_is_digest(sha) || !data)
            goto invalid;
        for (i = 0; i < p->cfg.slots; i++) {
            slot *s = &p->slots[i];
            int rc;
            if (s->state != SLOT_WAITING || !s->chunked || strcmp(s->artifact_digest, digest)) continue;
            any = 1;
            rc = pp_asm_chunk(&s->asm_, (uint32_t)index, (uint32_t)total, sha, data, strlen(data));
            if (rc == PP_ASM_CORRUPT) {
                p->counters.chunks_corrupt++;
                logf_(p, PP_LOG_WARN, "chunk %.0f of %s is corrupt: asked again", index, digest);
                request_chunks(p, s, 0);
                if (s->state == SLOT_WAITING) continue;
            } else if (rc == PP_ASM_DUPLICATE) p->counters.duplicate_messages++;
            else if (rc == PP_ASM_FAILED) fail_slot(p, s, "failed", s->asm_.error_code, s->asm_.error, -1);
            else if (rc == PP_ASM_DONE) {
                p->counters.chunks_received++;
                s->artifact_len = s->asm_.size;
                s->state = SLOT_READY;
                run_slot(p, s);
            } else {
                p->counters.chunks_received++;
                request_chunks(p, s, 0);
            }
        }
        if (!any) p->counters.duplicate_messages++; /* late chunks of a finished download */
        return;
    }
invalid:
    p->counters.invalid_messages++;
    logf_(p, PP_LOG_WARN, "dropped an invalid artifact message");
}

/* ---- public ------------------------------------------------------------------------------- */
int pp_init(pp_proplet *p, const pp_config *cfg, const pp_port *port, uint8_t *slot_memory, size_t slot_memory_len)
{
    uint32_t i;
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->port = *port;
    if (!cfg->topic_root) p->cfg.topic_root = "propeller/v1";
    snprintf(p->root, sizeof p->root, "%s", p->cfg.topic_root);
    if (!pp_is_proplet_id(cfg->id) || !cfg->name || !*cfg->name || cfg->slots < 1 || cfg->slots > PP_MAX_SLOTS ||
        slot_memory_len < (size_t)cfg->slots * cfg->slot_bytes || cfg->artifact_max >= cfg->slot_bytes || cfg->heartbeat_ms < 100 ||
        !port->publish || !port->subscribe || !port->random || !port->wall_ms || !port->mono_ms || strchr(p->root, '+') ||
        strchr(p->root, '#')) {
        logf_(p, PP_LOG_ERROR, "invalid proplet configuration");
        return -1;
    }
    if (!p->cfg.resend_ms) p->cfg.resend_ms = 2000;
    if (!p->cfg.chunk_timeout_ms) p->cfg.chunk_timeout_ms = 5000;
    if (!p->cfg.fuel_per_ms) p->cfg.fuel_per_ms = 20000;
    /* linear memory a run may have: what is left of a slot after the artifact and about a
     * quarter for the module, stacks and tables, in whole pages */
    p->per_slot_memory = ((cfg->slot_bytes - cfg->artifact_max) * 3 / 4) / 65536 * 65536;
    if (p->per_slot_memory < 65536) {
        logf_(p, PP_LOG_ERROR, "a run slot of %zu bytes leaves no room for one page of linear memory", cfg->slot_bytes);
        return -1;
    }
    for (i = 0; i < cfg->slots; i++) p->slots[i].mem = slot_memory + (size_t)i * cfg->slot_bytes;
    if (pp_key_init(&p->key, port) != 0) {
        logf_(p, PP_LOG_ERROR, "no identity key: cannot sign receipts");
        return -1;
    }
    return 0;
}

void pp_on_connect(pp_proplet *p)
{
    static const char *const subs[] = {"tasks/start", "tasks/stop", "tasks/result-ack", "control", "artifacts/chunk"};
    size_t i;
    uint32_t k;
    char t[PP_TOPIC_MAX];
    p->connected = 1;
    for (i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (p->port.subscribe(p->port.ctx, topic(p, subs[i])) != 0) logf_(p, PP_LOG_ERROR, "subscribing to %s failed", p->topic);
    snprintf(t, sizeof t, "%s/manager/online", p->root);
    if (p->port.subscribe(p->port.ctx, t) != 0) logf_(p, PP_LOG_ERROR, "subscribing to %s failed", t);
    presence(p);
    for (k = 0; k < p->cfg.slots; k++)
        if (p->slots[k].state == SLOT_WAITING && p->slots[k].chunked) request_chunks(p, &p->slots[k], 1);
    p->next_heartbeat = p->port.mono_ms(p->port.ctx) + p->cfg.heartbeat_ms;
}

void pp_on_disconnect(pp_proplet *p) { p->connected = 0; }

void pp_tick(pp_proplet *p)
{
    uint64_t now = p->port.mono_ms(p->port.ctx);
    uint32_t k;
    if (!p->connected) return;
    if (now >= p->next_heartbeat) {
        heartbeat(p);
        p->next_heartbeat = now + p->cfg.heartbeat_ms;
    }
    resend_results(p, 0);
    for (k = 0; k < p->cfg.slots; k++)
        if (p->slots[k].state == SLOT_WAITING && p->slots[k].chunked) request_chunks(p, &p->slots[k], 0);
}

void pp_on_message(pp_proplet *p, const char *t, const uint8_t *payload, size_t len)
{
    char prefix[PP_TOPIC_MAX], online[PP_TOPIC_MAX];
    const char *name, *bad, *kind = NULL;
    size_t n;
    cJSON *m;
    snprintf(prefix, sizeof prefix, "%s/proplets/%s/", p->root, p->cfg.id);
    snprintf(online, sizeof online, "%s/manager/online", p->root);
    n = strlen(prefix);
    if (!strcmp(t, online)) name = NULL;
    else if (!strncmp(t, prefix, n)) name = t + n;
    else {
        p->counters.invalid_messages++;
        logf_(p, PP_LOG_WARN, "dropped a message on a topic that is not this proplet's: %.200s", t);
        return;
    }
    /* bounded before parsing: the largest message is a start with an inline artifact */
    if (len > p->cfg.artifact_max / 3 * 4 + 65536) {
        p->counters.invalid_messages++;
        logf_(p, PP_LOG_WARN, "dropped a %zu-byte message on %.200s: over this proplet's limit", len, t);
        return;
    }
    m = cJSON_ParseWithLength((const char *)payload, len);
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        p->counters.invalid_messages++;
        logf_(p, PP_LOG_WARN, "dropped a message on %.200s: not a JSON object", t);
        return;
    }
    if (!name) kind = "manager.online";
    else if (!strcmp(name, "tasks/start")) kind = "task.start";
    else if (!strcmp(name, "tasks/stop")) kind = "task.stop";
    else if (!strcmp(name, "tasks/result-ack")) kind = "task.result-ack";
    else if (!strcmp(name, "control")) kind = "proplet.control";
    else if (!strcmp(name, "artifacts/chunk")) kind = NULL; /* chunk or refused */
    else {
        cJSON_Delete(m);
        p->counters.invalid_messages++;
        logf_(p, PP_LOG_WARN, "dropped a message on an unexpected topic %.200s", t);
        return;
    }
    bad = check_envelope(p, m, kind);
    if (!bad && name && !strcmp(name, "artifacts/chunk") && strcmp(str(m, "kind", 64), "artifact.chunk") && strcmp(str(m, "kind", 64), "artifact.refused"))
        bad = "kind does not match the topic";
    if (!bad && kind && !strcmp(kind, "task.start")) bad = check_start(m);
    if (!bad && kind && !strcmp(kind, "manager.online")) {
        static const char *const k[] = {"version", "messageId", "timestamp", "traceparent", "kind", "managerId", NULL};
        if (!only_keys(m, k) || !str(m, "managerId", 128)) bad = "managerId malformed";
    }
    if (!bad && kind && !strcmp(kind, "proplet.control")) {
        static const char *const k[] = {ENVELOPE, "action", NULL};
        if (!only_keys(m, k) || !str(m, "action", 32) || strcmp(str(m, "action", 32), "reannounce")) bad = "action malformed";
    }
    if (bad) {
        p->counters.invalid_messages++;
        logf_(p, PP_LOG_WARN, "dropped an invalid message on %.200s: %s", t, bad);
        cJSON_Delete(m);
        return;
    }
    if (!name || !strcmp(kind ? kind : "", "proplet.control")) presence(p);
    else if (!strcmp(kind ? kind : "", "task.start")) on_start(p, m);
    else if (!strcmp(kind ? kind : "", "task.stop")) on_stop(p, m);
    else if (!strcmp(kind ? kind : "", "task.result-ack")) on_result_ack(p, m);
    else on_chunk(p, m);
    cJSON_Delete(m);
}

int pp_last_will(pp_proplet *p, char *t, size_t tcap, char *payload, size_t pcap)
{
    char mid[37], ts[32], tp[56];
    int n;
    uuid(p, mid);
    pp_iso_time(p->port.wall_ms(p->port.ctx), ts);
    child_traceparent(p, NULL, tp);
    snprintf(t, tcap, "%s/proplets/%s/status", p->root, p->cfg.id);
    n = snprintf(payload, pcap,
                 "{\"version\":1,\"messageId\":\"%s\",\"timestamp\":\"%s\",\"traceparent\":\"%s\",\"kind\":\"proplet.status\","
                 "\"propletId\":\"%s\",\"state\":\"offline\",\"reason\":\"connection lost (last will)\"}",
                 mid, ts, tp, p->cfg.id);
    return n > 0 && (size_t)n < pcap ? n : -1;
}

const char *pp_identity_jwk(const pp_proplet *p) { return p->key.jwk; }
const pp_counters *pp_get_counters(const pp_proplet *p) { return &p->counters; }
uint32_t pp_running(const pp_proplet *p) { return running_count(p); }
uint32_t pp_pending_results(const pp_proplet *p)
{
    uint32_t i, n = 0;
    for (i = 0; i < PP_PENDING_MAX; i++) n += p->results[i].used != 0;
    return n;
}
