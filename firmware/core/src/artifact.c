/* Chunked artifact assembly into a bounded buffer (protocol/messages/artifact.ts): the layout
 * is checked against the budget before anything is asked; at most PP_CHUNK_WINDOW chunks are
 * outstanding; every chunk's index, length and sha256 are checked before it is written; a
 * corrupt or late chunk is asked again (PP_CHUNK_ATTEMPTS times at most); duplicates and any
 * order are fine; the whole artifact's digest is checked before it is handed out. */
#include "core_internal.h"
#include <stdio.h>
#include <string.h>

static int fail(pp_asm *a, const char *code, const char *msg)
{
    snprintf(a->error_code, sizeof a->error_code, "%s", code);
    snprintf(a->error, sizeof a->error, "%s", msg);
    return -1;
}

int pp_asm_begin(pp_asm *a, uint8_t *buf, size_t cap, const char *digest, size_t size, uint32_t chunk_size,
                 uint32_t chunks)
{
    char msg[200];
    memset(a, 0, sizeof *a);
    a->buf = buf;
    a->cap = cap;
    if (size > cap) {
        snprintf(msg, sizeof msg, "the artifact is %zu bytes; this proplet accepts at most %zu", size, cap);
        return fail(a, "artifact_too_large", msg);
    }
    if (size == 0 || chunk_size == 0 || (size + chunk_size - 1) / chunk_size != chunks) {
        snprintf(msg, sizeof msg, "%zu bytes in chunks of %u are not %u chunks", size, chunk_size, chunks);
        return fail(a, "artifact_invalid", msg);
    }
    if (chunks > PP_ASM_MAX_CHUNKS) return fail(a, "artifact_too_large", "too many chunks for this proplet");
    if (!pp_is_digest(digest)) return fail(a, "artifact_invalid", "the artifact digest is malformed");
    memcpy(a->digest, digest, 72);
    a->size = size;
    a->chunk_size = chunk_size;
    a->chunks = chunks;
    return 0;
}

static int has(const pp_asm *a, uint32_t i) { return (a->have[i / 8] >> (i % 8)) & 1; }

int pp_asm_due(pp_asm *a, uint64_t now, uint32_t timeout_ms, int all, uint32_t *out, int max)
{
    int n = 0, w;
    for (w = 0; w < PP_CHUNK_WINDOW && n < max; w++) {
        if (!a->window[w].live) {
            /* fill the window with the next chunk never asked for */
            while (a->next < a->chunks && has(a, a->next)) a->next++;
            if (a->next >= a->chunks) continue;
            a->window[w].live = 1;
            a->window[w].index = a->next++;
            a->window[w].attempts = 1;
            a->window[w].asked_at = now;
            out[n++] = a->window[w].index;
        } else if (all || a->window[w].asked_at == 0 || now - a->window[w].asked_at >= timeout_ms) {
            if (!all && ++a->window[w].attempts > PP_CHUNK_ATTEMPTS) {
                char msg[200];
                snprintf(msg, sizeof msg, "chunk %u of artifact %.20s… was not received intact after %d attempts",
                         a->window[w].index, a->digest, PP_CHUNK_ATTEMPTS);
                return fail(a, "artifact_unreachable", msg);
            }
            a->window[w].asked_at = now;
            out[n++] = a->window[w].index;
        }
    }
    return n;
}

int pp_asm_chunk(pp_asm *a, uint32_t index, uint32_t total, const char *sha256, const char *data, size_t data_len)
{
    size_t off, want;
    long got;
    char d[72];
    int w;
    if (total != a->chunks || index >= a->chunks) {
        fail(a, "artifact_invalid", "a chunk does not match the artifact's layout");
        return PP_ASM_CORRUPT;
    }
    if (has(a, index)) return PP_ASM_DUPLICATE;
    off = (size_t)index * a->chunk_size;
    want = index + 1 == a->chunks ? a->size - off : a->chunk_size;
    if (pp_b64_decoded_size(data, data_len) != want) return PP_ASM_CORRUPT;
    got = pp_b64_decode(data, data_len, a->buf + off, want);
    if (got != (long)want) return PP_ASM_CORRUPT;
    pp_digest(a->buf + off, want, d);
    if (!sha256 || strcmp(d, sha256) != 0) {
        /* asked again at the next pp_asm_due */
        for (w = 0; w < PP_CHUNK_WINDOW; w++)
            if (a->window[w].live && a->window[w].index == index) a->window[w].asked_at = 0;
        return PP_ASM_CORRUPT;
    }
    a->have[index / 8] |= (uint8_t)(1u << (index % 8));
    a->received++;
    for (w = 0; w < PP_CHUNK_WINDOW; w++)
        if (a->window[w].live && a->window[w].index == index) a->window[w].live = 0;
    if (a->received < a->chunks) return PP_ASM_OK;
    pp_digest(a->buf, a->size, d);
    if (strcmp(d, a->digest) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "artifact digest mismatch: expected %s, got %s", a->digest, d);
        fail(a, "digest_mismatch", msg);
        return PP_ASM_FAILED;
    }
    return PP_ASM_DONE;
}
