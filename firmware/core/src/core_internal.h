/* Internal helpers of the proplet core (unit-tested through core_test.c). */
#ifndef PP_CORE_INTERNAL_H
#define PP_CORE_INTERNAL_H

#include "pp_core.h"
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* ---- encodings ---------------------------------------------------------- */
/* Standard base64 with padding (url=0) or base64url without padding (url=1). Returns the
 * length written (NUL-terminated), or 0 when cap is too small. */
size_t pp_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap, int url);
/* Strict standard base64 (length a multiple of 4, padding only at the end). Returns the
 * decoded length, or -1 when malformed or longer than cap. */
long pp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Decoded size from the text's length, without decoding (refuse before work). */
size_t pp_b64_decoded_size(const char *in, size_t n);

/* "sha256:<64 hex>" of data, into out[72]. */
void pp_digest(const uint8_t *data, size_t n, char out[72]);
void pp_sha256(const uint8_t *data, size_t n, uint8_t out[32]);
int pp_is_digest(const char *s);
/* protocol/messages/common.ts Id / PropletId patterns */
int pp_is_id(const char *s);
int pp_is_proplet_id(const char *s);
int pp_is_traceparent(const char *s);
int pp_is_timestamp(const char *s);

/* toISOString() of a Unix time in milliseconds, into out[32]. */
void pp_iso_time(int64_t ms, char out[32]);
/* JavaScript's Number.prototype.toString of a finite double (what JSON.stringify writes). */
void pp_js_number(double v, char out[32]);

/* RFC 8785 canonical JSON of a cJSON value into out; returns length or -1 (too long / not
 * representable). */
long pp_jcs(const cJSON *v, char *out, size_t cap);

/* ---- chunked artifact assembly (protocol/messages/artifact.ts) ----------- */
#define PP_ASM_MAX_CHUNKS 4096
enum { PP_ASM_OK = 0, PP_ASM_DUPLICATE, PP_ASM_CORRUPT, PP_ASM_DONE, PP_ASM_FAILED };
typedef struct {
    uint8_t *buf;
    size_t cap, size;
    uint32_t chunk_size, chunks, received;
    char digest[72];
    uint8_t have[PP_ASM_MAX_CHUNKS / 8];
    struct { uint32_t index; uint64_t asked_at; uint32_t attempts; int live; } window[PP_CHUNK_WINDOW];
    uint32_t next; /* lowest index never asked */
    char error_code[40];
    char error[200];
} pp_asm;

/* Checks the layout against the budget before anything is asked: 0, or -1 with error set
 * (artifact_too_large / artifact_invalid). */
int pp_asm_begin(pp_asm *a, uint8_t *buf, size_t cap, const char *digest, size_t size, uint32_t chunk_size,
                 uint32_t chunks);
/* Indices to ask for now: new ones to fill the window, and those not received within
 * timeout_ms (each ask counts an attempt). Returns how many (<= max), or -1 when a chunk ran
 * out of attempts (error set). `all` asks again for every outstanding one (reconnect). */
int pp_asm_due(pp_asm *a, uint64_t now, uint32_t timeout_ms, int all, uint32_t *out, int max);
/* One artifact.chunk. PP_ASM_CORRUPT: asked again at the next pp_asm_due. PP_ASM_DONE: the
 * whole artifact is in buf and its digest matched. PP_ASM_FAILED: error set. */
int pp_asm_chunk(pp_asm *a, uint32_t index, uint32_t total, const char *sha256, const char *data, size_t data_len);

/* ---- receipts (protocol/receipt) ---------------------------------------- */
typedef struct {
    uint8_t d[32];      /* private scalar */
    uint8_t x[32], y[32];
    char jwk[160];      /* {"kty":"EC","crv":"P-256","x":...,"y":...} */
} pp_key;

/* Loads the key from storage, or makes and stores one. 0 on success. */
int pp_key_init(pp_key *k, const pp_port *port);
int pp_key_from_private(pp_key *k, const uint8_t d[32], const pp_port *port);
/* A compact JWS (ES256, typ propeller-receipt+jws, jwk header) over payload. Returns length or -1. */
long pp_jws_sign(const pp_key *k, const pp_port *port, const char *payload, size_t n, char *out, size_t cap);

#endif
