/* Encodings the wire protocol needs: base64, sha256 digests, the id/time patterns of
 * protocol/messages/common.ts, ISO timestamps, JavaScript number text and RFC 8785 JSON. */
#include "core_internal.h"
#include <math.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t pp_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap, int url)
{
    const char *t = url ? B64URL : B64;
    size_t i, o = 0, need = url ? (n * 4 + 2) / 3 : (n + 2) / 3 * 4;
    if (need + 1 > cap) return 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        if (!url) { out[o++] = '='; out[o++] = '='; }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        if (!url) out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

size_t pp_b64_decoded_size(const char *in, size_t n)
{
    size_t pad = (n >= 1 && in[n - 1] == '=') + (n >= 2 && in[n - 2] == '=');
    return n / 4 * 3 - (n % 4 == 0 ? pad : 0);
}

long pp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i, o = 0, pad = 0;
    if (n % 4) return -1;
    if (n >= 1 && in[n - 1] == '=') pad++;
    if (n >= 2 && in[n - 2] == '=') pad++;
    if (n / 4 * 3 - pad > cap) return -1;
    for (i = 0; i < n; i += 4) {
        int a = b64val(in[i]), b = b64val(in[i + 1]), c, d;
        int last = i + 4 == n;
        c = (last && pad >= 2) ? 0 : b64val(in[i + 2]);
        d = (last && pad >= 1) ? 0 : b64val(in[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0) return -1;
        {
            uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
            out[o++] = (uint8_t)(v >> 16);
            if (!(last && pad >= 2)) out[o++] = (uint8_t)(v >> 8);
            if (!(last && pad >= 1)) out[o++] = (uint8_t)v;
        }
    }
    return (long)o;
}

void pp_sha256(const uint8_t *data, size_t n, uint8_t out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_sha256(data, n, out, 0);
#else
    mbedtls_sha256_ret(data, n, out, 0);
#endif
}

void pp_digest(const uint8_t *data, size_t n, char out[72])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t h[32];
    int i;
    pp_sha256(data, n, h);
    memcpy(out, "sha256:", 7);
    for (i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[h[i] >> 4];
        out[8 + 2 * i] = hex[h[i] & 15];
    }
    out[71] = 0;
}

int pp_is_digest(const char *s)
{
    int i;
    if (!s || strncmp(s, "sha256:", 7)) return 0;
    for (i = 0; i < 64; i++) {
        char c = s[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return s[71] == 0;
}

static int alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static int id_like(const char *s, const char *extra)
{
    size_t n;
    if (!s || !alnum(s[0])) return 0;
    for (n = 1; s[n]; n++) {
        if (n > 127) return 0;
        if (!alnum(s[n]) && !strchr(extra, s[n])) return 0;
    }
    return 1;
}

int pp_is_id(const char *s) { return id_like(s, "._:-"); }
int pp_is_proplet_id(const char *s) { return id_like(s, "._-"); }

static int hexrun(const char *s, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int pp_is_traceparent(const char *s)
{
    return s && strlen(s) == 55 && !strncmp(s, "00-", 3) && hexrun(s + 3, 32) && s[35] == '-' && hexrun(s + 36, 16) &&
           s[52] == '-' && hexrun(s + 53, 2);
}

int pp_is_timestamp(const char *s)
{
    /* ^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$ */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i, n;
    if (!s) return 0;
    n = strlen(s);
    if (n < 20 || n > 40) return 0;
    for (i = 0; i < 19; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i]) return 0;
    if (s[i] == '.') {
        size_t k = 0;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++) k++;
        if (k < 1 || k > 9) return 0;
    }
    if (s[i] == 'Z') return s[i + 1] == 0;
    return (s[i] == '+' || s[i] == '-') && strlen(s + i) == 6 && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' &&
           s[i + 2] <= '9' && s[i + 3] == ':' && s[i + 4] >= '0' && s[i + 4] <= '9' && s[i + 5] >= '0' && s[i + 5] <= '9';
}

void pp_iso_time(int64_t ms, char out[32])
{
    /* days from civil, inverted (Howard Hinnant's algorithm) */
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    {
        char tmp[96];
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)(y % 10000), (int)m, (int)d,
                 (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
        memcpy(out, tmp, 24);
        out[24] = 0;
    }
}

void pp_js_number(double v, char out[32])
{
    char buf[40], digits[20];
    int p, k = 0, e, n, i;
    const char *q;
    char *w = out;
    if (v == 0) { strcpy(out, "0"); return; }
    if (v < 0) { *w++ = '-'; v = -v; }
    /* shortest digits that read back to v */
    for (p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    for (q = buf; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = 0;
    e = atoi(q + 1);
    n = e + 1; /* v = 0.digits * 10^n */
    if (k <= n && n <= 21) {
        memcpy(w, digits, (size_t)k);
        w += k;
        for (i = k; i < n; i++) *w++ = '0';
        *w = 0;
    } else if (0 < n && n <= 21) {
        memcpy(w, digits, (size_t)n);
        w += n;
        *w++ = '.';
        memcpy(w, digits + n, (size_t)(k - n));
        w[k - n] = 0;
    } else if (-6 < n && n <= 0) {
        *w++ = '0';
        *w++ = '.';
        for (i = 0; i < -n; i++) *w++ = '0';
        memcpy(w, digits, (size_t)k);
        w[k] = 0;
    } else {
        *w++ = digits[0];
        if (k > 1) {
            *w++ = '.';
            memcpy(w, digits + 1, (size_t)(k - 1));
            w += k - 1;
        }
        {
            char ex[16];
            snprintf(ex, sizeof ex, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1) % 1000);
            strcpy(w, ex);
        }
    }
}

/* ---- RFC 8785 ------------------------------------------------------------ */
typedef struct { char *p; size_t n, cap; int bad; } sink;

static void put(sink *s, const char *t, size_t n)
{
    if (s->bad || s->n + n + 1 > s->cap) { s->bad = 1; return; }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = 0;
}

static void put_string(sink *s, const char *str)
{
    const unsigned char *c = (const unsigned char *)str;
    put(s, "\"", 1);
    for (; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': put(s, "\\\"", 2); break;
        case '\\': put(s, "\\\\", 2); break;
        case '\b': put(s, "\\b", 2); break;
        case '\f': put(s, "\\f", 2); break;
        case '\n': put(s, "\\n", 2); break;
        case '\r': put(s, "\\r", 2); break;
        case '\t': put(s, "\\t", 2); break;
        default:
            if (*c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", *c); put(s, esc, 6); }
            else put(s, (const char *)c, 1);
        }
    }
    put(s, "\"", 1);
}

/* JCS orders members by their names' UTF-16 code units; for names without surrogate pairs
 * that is the order of code points, which is the byte order of their UTF-8. Names here are
 * ASCII (schema patterns), so a byte comparison is exact. */
static int by_name(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void jcs(sink *s, const cJSON *v, int depth)
{
    char num[32];
    if (depth > 32) { s->bad = 1; return; }
    if (cJSON_IsNull(v)) put(s, "null", 4);
    else if (cJSON_IsTrue(v)) put(s, "true", 4);
    else if (cJSON_IsFalse(v)) put(s, "false", 5);
    else if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble)) { s->bad = 1; return; }
        pp_js_number(v->valuedouble, num);
        put(s, num, strlen(num));
    } else if (cJSON_IsString(v)) put_string(s, v->valuestring);
    else if (cJSON_IsArray(v)) {
        const cJSON *e;
        int first = 1;
        put(s, "[", 1);
        cJSON_ArrayForEach(e, v) {
            if (!first) put(s, ",", 1);
            first = 0;
            jcs(s, e, depth + 1);
        }
        put(s, "]", 1);
    } else if (cJSON_IsObject(v)) {
        const cJSON *members[300], *e;
        int n = 0, i;
        cJSON_ArrayForEach(e, v) {
            if (n >= 300) { s->bad = 1; return; }
            members[n++] = e;
        }
        qsort(members, (size_t)n, sizeof members[0], by_name);
        put(s, "{", 1);
        for (i = 0; i < n; i++) {
            if (i) put(s, ",", 1);
            put_string(s, members[i]->string);
            put(s, ":", 1);
            jcs(s, members[i], depth + 1);
        }
        put(s, "}", 1);
    } else s->bad = 1;
}

long pp_jcs(const cJSON *v, char *out, size_t cap)
{
    sink s;
    s.p = out;
    s.n = 0;
    s.cap = cap;
    s.bad = cap == 0;
    if (cap) out[0] = 0;
    jcs(&s, v, 0);
    return s.bad ? -1 : (long)s.n;
}
