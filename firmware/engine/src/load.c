/* Decoding, validation and translation of a Wasm 1.0 binary (pw_load). */
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>

int pw_fail(pw_error *err, pw_status st, uint32_t off, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = st;
        err->trap = PW_TRAP_NONE;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return 0;
}

void pw_pool_init(pw_pool *pool, void *buf, size_t size)
{
    size_t pad = (size_t)((16u - ((uintptr_t)buf & 15u)) & 15u);
    if (pad > size) pad = size;
    pool->base = (uint8_t *)buf + pad;
    pool->size = size - pad;
    pool->used = 0;
}

void *pw_pool_alloc(pw_pool *pool, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    void *p;
    if (n == 0) need = 16;
    if (need < n || need > pool->size - pool->used) return NULL;
    p = pool->base + pool->used;
    pool->used += need;
    return p;
}

void *pw_pool_zalloc(pw_pool *pool, size_t n)
{
    void *p = pw_pool_alloc(pool, n);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

int pw_functype_eq(const pw_functype *a, const pw_functype *b)
{
    return a->np == b->np && a->nr == b->nr && memcmp(a->t, b->t, a->np + a->nr) == 0;
}

pw_limits pw_default_limits(void)
{
    pw_limits l;
    l.max_pages = 16;
    l.stack_slots = 16384;
    l.max_frames = 512;
    l.max_table_size = 4096;
    l.max_locals = 50000;
    return l;
}

/* ---- reader -------------------------------------------------------------- */
typedef struct {
    const uint8_t *p, *end, *start;
    pw_error *err;
    pw_pool *pool;
    const pw_limits *lim;
} rd;

#define OFF(r) ((uint32_t)((r)->p - (r)->start))
#define TRY(x) do { if (!(x)) return 0; } while (0)

static int malformed(rd *r, const char *m) { return pw_fail(r->err, PW_ERR_MALFORMED, OFF(r), "%s", m); }
static int invalid(rd *r, const char *m) { return pw_fail(r->err, PW_ERR_INVALID, OFF(r), "%s", m); }
static int unsupported(rd *r, const char *m) { return pw_fail(r->err, PW_ERR_UNSUPPORTED, OFF(r), "unsupported feature: %s", m); }
static int nomem(rd *r) { return pw_fail(r->err, PW_ERR_NOMEM, OFF(r), "pool exhausted"); }

static int rd_byte(rd *r, uint8_t *b)
{
    *b = 0;
    if (r->p >= r->end) return malformed(r, "unexpected end");
    *b = *r->p++;
    return 1;
}

static int rd_u32(rd *r, uint32_t *out)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 5; i++) {
        uint8_t b;
        TRY(rd_byte(r, &b));
        if (i == 4 && (b & 0xF0)) return malformed(r, (b & 0x80) ? "integer representation too long" : "integer too large");
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) { *out = v; return 1; }
    }
    return malformed(r, "integer representation too long");
}

static int rd_s32(rd *r, int32_t *out)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 5; i++) {
        uint8_t b;
        TRY(rd_byte(r, &b));
        if (i == 4) {
            if (b & 0x80) return malformed(r, "integer representation too long");
            if ((b & 0x78) != 0 && (b & 0x78) != 0x78) return malformed(r, "integer too large");
        }
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i < 4 && (b & 0x40)) v |= ~(uint32_t)0 << (7 * (i + 1));
            *out = (int32_t)v;
            return 1;
        }
    }
    return malformed(r, "integer representation too long");
}

static int rd_s64(rd *r, int64_t *out)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 10; i++) {
        uint8_t b;
        TRY(rd_byte(r, &b));
        if (i == 9) {
            if (b & 0x80) return malformed(r, "integer representation too long");
            if ((b & 0x7F) != 0 && (b & 0x7F) != 0x7F) return malformed(r, "integer too large");
        }
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i < 9 && (b & 0x40)) v |= ~(uint64_t)0 << (7 * (i + 1));
            *out = (int64_t)v;
            return 1;
        }
    }
    return malformed(r, "integer representation too long");
}

static int rd_fixed(rd *r, unsigned n, uint64_t *out)
{
    uint64_t v = 0;
    unsigned i;
    *out = 0;
    if ((size_t)(r->end - r->p) < n) return malformed(r, "unexpected end");
    for (i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 1;
}

static int utf8_ok(const uint8_t *s, uint32_t n)
{
    uint32_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t len, cp, k;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        i += len;
    }
    return 1;
}

static int rd_name(rd *r, char **out, uint32_t *len)
{
    uint32_t n;
    char *s;
    TRY(rd_u32(r, &n));
    if ((size_t)(r->end - r->p) < n) return malformed(r, "unexpected end (length out of bounds)");
    if (!utf8_ok(r->p, n)) return malformed(r, "malformed UTF-8 encoding");
    s = (char *)pw_pool_alloc(r->pool, (size_t)n + 1);
    if (!s) return nomem(r);
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n;
    *out = s;
    *len = n;
    return 1;
}

static int rd_valtype(rd *r, uint8_t *t)
{
    uint8_t b;
    TRY(rd_byte(r, &b));
    switch (b) {
    case 0x7F: case 0x7E: case 0x7D: case 0x7C: *t = b; return 1;
    case 0x7B: return unsupported(r, "simd (v128 value type)");
    case 0x70: case 0x6F: return unsupported(r, "reference types (funcref/externref value type)");
    case 0x63: case 0x64: return unsupported(r, "function references / gc (ref type)");
    default:
        if (b >= 0x69 && b <= 0x74) return unsupported(r, "gc (heap type)");
        return malformed(r, "malformed value type");
    }
}

static int rd_limits(rd *r, uint32_t *min, uint32_t *max, int *has_max, int is_mem)
{
    uint8_t flag;
    TRY(rd_byte(r, &flag));
    if (flag & 0x02) return is_mem ? unsupported(r, "threads (shared memory)") : malformed(r, "malformed limits flags");
    if (flag & 0x04) return unsupported(r, is_mem ? "memory64" : "table64");
    if (flag & 0x08) return unsupported(r, "custom page sizes");
    if (flag > 1) return malformed(r, "malformed limits flags");
    TRY(rd_u32(r, min));
    *has_max = flag == 1;
    *max = 0;
    if (*has_max) TRY(rd_u32(r, max));
    return 1;
}

/* A constant expression longer than one instruction is valid only with the
 * Wasm 3.0 extended-const feature (i32/i64 add, sub, mul). Type-check the rest
 * on a small stack so that a module valid under extended-const is reported as
 * unsupported by name and anything else as invalid. */
static int more_constexpr(rd *r, const pw_module *m, uint32_t nglobals_visible, uint8_t want, uint8_t first,
                          uint8_t op)
{
    uint8_t stack[16];
    uint32_t sp = 0, depth = 0;
    stack[sp++] = first;
    for (;;) {
        uint8_t t;
        if (op == 0x0B) break;
        if (++depth > 256) return invalid(r, "constant expression too long");
        if (op == 0x41) { int32_t v; TRY(rd_s32(r, &v)); t = 0x7F; }
        else if (op == 0x42) { int64_t v; TRY(rd_s64(r, &v)); t = 0x7E; }
        else if (op == 0x23) {
            uint32_t g;
            TRY(rd_u32(r, &g));
            if (g >= nglobals_visible) return invalid(r, "unknown global");
            if (m->globals[g].mut) return invalid(r, "constant expression required");
            t = m->globals[g].type;
        } else if (op == 0x6A || op == 0x6B || op == 0x6C || op == 0x7C || op == 0x7D || op == 0x7E) {
            t = op <= 0x6C ? 0x7F : 0x7E;
            if (sp < 2 || stack[sp - 1] != t || stack[sp - 2] != t) return invalid(r, "type mismatch");
            sp -= 2;
        } else return invalid(r, "constant expression required");
        if (sp >= sizeof stack) return invalid(r, "constant expression too deep");
        stack[sp++] = t;
        TRY(rd_byte(r, &op));
    }
    if (sp != 1 || stack[0] != want) return invalid(r, "type mismatch");
    return unsupported(r, "extended constant expressions");
}

static int rd_constexpr(rd *r, const pw_module *m, uint32_t nglobals_visible, uint8_t want, pw_constexpr *ce)
{
    uint8_t op, end;
    uint64_t bits;
    TRY(rd_byte(r, &op));
    switch (op) {
    case 0x41: { int32_t v; TRY(rd_s32(r, &v)); ce->type = 0x7F; ce->val = (uint32_t)v; ce->kind = 0; break; }
    case 0x42: { int64_t v; TRY(rd_s64(r, &v)); ce->type = 0x7E; ce->val = (uint64_t)v; ce->kind = 0; break; }
    case 0x43: TRY(rd_fixed(r, 4, &bits)); ce->type = 0x7D; ce->val = bits; ce->kind = 0; break;
    case 0x44: TRY(rd_fixed(r, 8, &bits)); ce->type = 0x7C; ce->val = bits; ce->kind = 0; break;
    case 0x23: {
        uint32_t g;
        TRY(rd_u32(r, &g));
        if (g >= nglobals_visible) return invalid(r, "unknown global");
        if (m->globals[g].mut) return invalid(r, "constant expression required");
        ce->kind = 1; ce->type = m->globals[g].type; ce->val = g;
        break;
    }
    case 0xD0: case 0xD2: return unsupported(r, "reference types (ref.null/ref.func in constant expression)");
    case 0xFD: return unsupported(r, "simd (opcode 0xfd)");
    case 0x0B: return invalid(r, "type mismatch (empty constant expression)");
    default:
        return invalid(r, "constant expression required");
    }
    TRY(rd_byte(r, &end));
    if (end != 0x0B) return more_constexpr(r, m, nglobals_visible, want, ce->type, end);
    if (ce->type != want) return invalid(r, "type mismatch");
    return 1;
}

/* ---- function body validation + translation ------------------------------ */
enum { C_BLOCK, C_LOOP, C_IF, C_ELSE, C_FUNC };

typedef struct {
    uint8_t kind, result, unreachable;
    uint32_t height;
    uint32_t start_pc; /* loop */
    uint32_t patch;    /* linked list of forward target words */
    uint32_t else_patch;
} ctl;

typedef struct {
    rd *r;
    const pw_module *m;
    uint8_t *locals;
    uint32_t nlocals;
    uint8_t *vals;
    uint32_t nvals, maxvals, capvals;
    ctl *ctls;
    uint32_t nctls, capctls;
    uint32_t *code;
    uint32_t ncode, capcode;
} fv;

static int emit(fv *f, uint32_t w)
{
    if (f->ncode >= f->capcode) return pw_fail(f->r->err, PW_ERR_LIMIT, OFF(f->r), "internal code buffer overflow");
    f->code[f->ncode++] = w;
    return 1;
}

static int push(fv *f, uint8_t t)
{
    if (f->nvals >= f->capvals) return pw_fail(f->r->err, PW_ERR_LIMIT, OFF(f->r), "operand stack too deep");
    f->vals[f->nvals++] = t;
    if (f->nvals > f->maxvals) f->maxvals = f->nvals;
    return 1;
}

static int pop(fv *f, uint8_t want, uint8_t *got)
{
    ctl *c = &f->ctls[f->nctls - 1];
    uint8_t t;
    if (f->nvals == c->height) {
        if (c->unreachable) { if (got) *got = 0; return 1; }
        return invalid(f->r, "type mismatch");
    }
    t = f->vals[--f->nvals];
    if (want && t && t != want) return invalid(f->r, "type mismatch");
    if (got) *got = t;
    return 1;
}

static int push_ctl(fv *f, uint8_t kind, uint8_t result)
{
    ctl *c;
    if (f->nctls >= f->capctls) return pw_fail(f->r->err, PW_ERR_LIMIT, OFF(f->r), "control nesting too deep");
    c = &f->ctls[f->nctls++];
    c->kind = kind; c->result = result; c->unreachable = 0;
    c->height = f->nvals; c->start_pc = f->ncode; c->patch = PW_NONE; c->else_patch = PW_NONE;
    return 1;
}

static void set_unreachable(fv *f)
{
    ctl *c = &f->ctls[f->nctls - 1];
    f->nvals = c->height;
    c->unreachable = 1;
}

static int rd_blocktype(fv *f, uint8_t *res)
{
    rd *r = f->r;
    uint8_t b;
    if (r->p >= r->end) return malformed(r, "unexpected end");
    b = *r->p;
    if (b == 0x40) { r->p++; *res = 0; return 1; }
    if (b & 0x40) return rd_valtype(r, res);
    return unsupported(r, "multi-value (block type index)");
}

static void patch_list(fv *f, uint32_t head, uint32_t target)
{
    while (head != PW_NONE) {
        uint32_t next = f->code[head];
        f->code[head] = target;
        head = next;
    }
}

/* label d as [target, arity, height]; height relative to fp */
static int emit_label(fv *f, uint32_t d)
{
    ctl *c = &f->ctls[f->nctls - 1 - d];
    if (c->kind == C_LOOP) {
        TRY(emit(f, c->start_pc));
        TRY(emit(f, 0));
    } else {
        TRY(emit(f, c->patch));
        c->patch = f->ncode - 1;
        TRY(emit(f, c->result ? 1u : 0u));
    }
    return emit(f, f->nlocals + c->height);
}

static int emit_br(fv *f, uint32_t op, uint32_t d)
{
    TRY(emit(f, op));
    return emit_label(f, d);
}

static uint8_t label_type(fv *f, uint32_t d)
{
    ctl *c = &f->ctls[f->nctls - 1 - d];
    return c->kind == C_LOOP ? 0 : c->result;
}

/* numeric opcode signatures: a, b operands (0 = none), result */
static int numeric_sig(uint32_t op, uint8_t *a, uint8_t *b, uint8_t *res)
{
    const uint8_t I = 0x7F, L = 0x7E, F = 0x7D, D = 0x7C;
    *b = 0;
    if (op == 0x45) { *a = I; *res = I; }
    else if (op <= 0x4F) { *a = *b = I; *res = I; }
    else if (op == 0x50) { *a = L; *res = I; }
    else if (op <= 0x5A) { *a = *b = L; *res = I; }
    else if (op <= 0x60) { *a = *b = F; *res = I; }
    else if (op <= 0x66) { *a = *b = D; *res = I; }
    else if (op <= 0x69) { *a = I; *res = I; }
    else if (op <= 0x78) { *a = *b = I; *res = I; }
    else if (op <= 0x7B) { *a = L; *res = L; }
    else if (op <= 0x8A) { *a = *b = L; *res = L; }
    else if (op <= 0x91) { *a = F; *res = F; }
    else if (op <= 0x98) { *a = *b = F; *res = F; }
    else if (op <= 0x9F) { *a = D; *res = D; }
    else if (op <= 0xA6) { *a = *b = D; *res = D; }
    else if (op == 0xA7) { *a = L; *res = I; }
    else if (op <= 0xA9) { *a = F; *res = I; }
    else if (op <= 0xAB) { *a = D; *res = I; }
    else if (op <= 0xAD) { *a = I; *res = L; }
    else if (op <= 0xAF) { *a = F; *res = L; }
    else if (op <= 0xB1) { *a = D; *res = L; }
    else if (op <= 0xB3) { *a = I; *res = F; }
    else if (op <= 0xB5) { *a = L; *res = F; }
    else if (op == 0xB6) { *a = D; *res = F; }
    else if (op <= 0xB8) { *a = I; *res = D; }
    else if (op <= 0xBA) { *a = L; *res = D; }
    else if (op == 0xBB) { *a = F; *res = D; }
    else if (op == 0xBC) { *a = F; *res = I; }
    else if (op == 0xBD) { *a = D; *res = L; }
    else if (op == 0xBE) { *a = I; *res = F; }
    else if (op == 0xBF) { *a = L; *res = D; }
    else if (op <= 0xC1) { *a = I; *res = I; }
    else if (op <= 0xC4) { *a = L; *res = L; }
    else if (op >= OP_TRUNC_SAT && op <= OP_TRUNC_SAT + 7) {
        uint32_t s = op - OP_TRUNC_SAT;
        *a = (s & 2) ? D : F;
        *res = (s & 4) ? L : I;
    } else return 0;
    return 1;
}

static int mem_natural(uint8_t op, uint8_t *vt, uint32_t *log2)
{
    static const uint8_t nat[] = {2,3,2,3,0,0,1,1,0,0,1,1,2,2, 2,3,2,3,0,1,0,1,2};
    static const uint8_t typ[] = {0x7F,0x7E,0x7D,0x7C,0x7F,0x7F,0x7F,0x7F,0x7E,0x7E,0x7E,0x7E,0x7E,0x7E,
                                  0x7F,0x7E,0x7D,0x7C,0x7F,0x7F,0x7E,0x7E,0x7E};
    if (op < 0x28 || op > 0x3E) return 0;
    *log2 = nat[op - 0x28];
    *vt = typ[op - 0x28];
    return 1;
}

static int compile_body(rd *r, const pw_module *m, const pw_functype *ft, pw_code *out, size_t body_len)
{
    fv f;
    size_t mark;
    uint32_t i, nlocal_groups;
    uint64_t total;
    pw_pool *pool = r->pool;
    const uint8_t *body_end = r->end;
    memset(&f, 0, sizeof f);
    f.r = r;
    f.m = m;

    /* locals */
    TRY(rd_u32(r, &nlocal_groups));
    {
        const uint8_t *save = r->p;
        total = ft->np;
        for (i = 0; i < nlocal_groups; i++) {
            uint32_t n; uint8_t t;
            TRY(rd_u32(r, &n));
            TRY(rd_valtype(r, &t));
            total += n;
            if (total > 0xFFFFFFFFu) return malformed(r, "too many locals");
        }
        if (total > r->lim->max_locals) return pw_fail(r->err, PW_ERR_LIMIT, OFF(r), "too many locals (limit %u)", r->lim->max_locals);
        r->p = save;
    }
    f.nlocals = (uint32_t)total;
    f.locals = (uint8_t *)pw_pool_alloc(pool, f.nlocals);
    if (!f.locals) return nomem(r);
    memcpy(f.locals, ft->t, ft->np);
    {
        uint32_t k = ft->np;
        for (i = 0; i < nlocal_groups; i++) {
            uint32_t n; uint8_t t;
            TRY(rd_u32(r, &n));
            TRY(rd_valtype(r, &t));
            memset(f.locals + k, t, n);
            k += n;
        }
    }
    /* the code buffer stays; scratch after it is released */
    f.capcode = (uint32_t)(body_len * 4 + 16);
    f.code = (uint32_t *)pw_pool_alloc(pool, (size_t)f.capcode * 4);
    if (!f.code) return nomem(r);
    mark = pool->used;
    f.capvals = (uint32_t)body_len + 2;
    f.capctls = (uint32_t)body_len + 2;
    f.vals = (uint8_t *)pw_pool_alloc(pool, f.capvals);
    f.ctls = (ctl *)pw_pool_alloc(pool, (size_t)f.capctls * sizeof(ctl));
    if (!f.vals || !f.ctls) return nomem(r);
    TRY(push_ctl(&f, C_FUNC, ft->nr ? ft->t[ft->np] : 0));

    while (f.nctls > 0) {
        uint8_t op, t, t2;
        uint32_t idx;
        if (r->p >= body_end) return malformed(r, "unexpected end of section or function");
        op = *r->p++;
        switch (op) {
        case 0x00: TRY(emit(&f, op)); set_unreachable(&f); break;
        case 0x01: break;
        case 0x02: case 0x03: {
            uint8_t res;
            TRY(rd_blocktype(&f, &res));
            TRY(push_ctl(&f, op == 0x02 ? C_BLOCK : C_LOOP, res));
            break;
        }
        case 0x04: {
            uint8_t res;
            TRY(rd_blocktype(&f, &res));
            TRY(pop(&f, 0x7F, NULL));
            TRY(push_ctl(&f, C_IF, res));
            TRY(emit(&f, 0x04));
            TRY(emit(&f, PW_NONE));
            f.ctls[f.nctls - 1].else_patch = f.ncode - 1;
            break;
        }
        case 0x05: {
            ctl *c = &f.ctls[f.nctls - 1];
            if (c->kind != C_IF) return malformed(r, "else without if");
            if (c->result) TRY(pop(&f, c->result, NULL));
            if (f.nvals != c->height) return invalid(r, "type mismatch");
            TRY(emit(&f, OP_JMP));
            TRY(emit(&f, c->patch));
            c->patch = f.ncode - 1;
            f.code[c->else_patch] = f.ncode;
            c->else_patch = PW_NONE;
            c->kind = C_ELSE;
            c->unreachable = 0;
            break;
        }
        case 0x0B: {
            ctl *c = &f.ctls[f.nctls - 1];
            uint8_t res = c->result;
            if (res) TRY(pop(&f, res, NULL));
            if (f.nvals != c->height) return invalid(r, "type mismatch");
            if (c->kind == C_IF && res) return invalid(r, "type mismatch (if without else must not produce a value)");
            if (c->kind == C_IF) f.code[c->else_patch] = f.ncode;
            if (c->kind == C_FUNC) TRY(emit(&f, 0x0F));
            patch_list(&f, c->patch, c->kind == C_FUNC ? f.ncode - 1 : f.ncode);
            f.nctls--;
            if (f.nctls > 0 && res) TRY(push(&f, res));
            break;
        }
        case 0x0C: case 0x0D: {
            TRY(rd_u32(r, &idx));
            if (idx >= f.nctls) return invalid(r, "unknown label");
            if (op == 0x0D) TRY(pop(&f, 0x7F, NULL));
            t = label_type(&f, idx);
            if (t) TRY(pop(&f, t, &t2));
            TRY(emit_br(&f, op, idx));
            if (op == 0x0C) set_unreachable(&f);
            else if (t) TRY(push(&f, t2 ? t2 : t));
            break;
        }
        case 0x0E: {
            uint32_t n, k, d, dflt;
            const uint8_t *save;
            uint8_t dt;
            TRY(rd_u32(r, &n));
            if (n > (uint32_t)(body_end - r->p)) return malformed(r, "unexpected end (br_table length)");
            save = r->p;
            for (k = 0; k <= n; k++) TRY(rd_u32(r, &dflt));
            if (dflt >= f.nctls) return invalid(r, "unknown label");
            r->p = save;
            dt = label_type(&f, dflt);
            TRY(pop(&f, 0x7F, NULL));
            TRY(emit(&f, 0x0E));
            TRY(emit(&f, n));
            for (k = 0; k <= n; k++) {
                TRY(rd_u32(r, &d));
                if (d >= f.nctls) return invalid(r, "unknown label");
                t = label_type(&f, d);
                if ((t != 0) != (dt != 0)) return invalid(r, "type mismatch");
                if (t) { TRY(pop(&f, t, &t2)); TRY(push(&f, t2)); }
                TRY(emit_label(&f, d));
            }
            if (dt) TRY(pop(&f, dt, NULL));
            set_unreachable(&f);
            break;
        }
        case 0x0F:
            if (ft->nr) TRY(pop(&f, ft->t[ft->np], NULL));
            TRY(emit(&f, 0x0F));
            set_unreachable(&f);
            break;
        case 0x10: {
            const pw_functype *ct;
            uint32_t k;
            TRY(rd_u32(r, &idx));
            if (idx >= m->nfuncs) return invalid(r, "unknown function");
            ct = &m->types[m->func_type[idx]];
            for (k = ct->np; k > 0; k--) TRY(pop(&f, ct->t[k - 1], NULL));
            for (k = 0; k < ct->nr; k++) TRY(push(&f, ct->t[ct->np + k]));
            TRY(emit(&f, 0x10));
            TRY(emit(&f, idx));
            break;
        }
        case 0x11: {
            const pw_functype *ct;
            uint32_t k, tbl;
            TRY(rd_u32(r, &idx));
            TRY(rd_u32(r, &tbl));
            if (tbl != 0) return unsupported(r, "reference types (call_indirect table index)");
            if (!m->has_table) return invalid(r, "unknown table");
            if (idx >= m->ntypes) return invalid(r, "unknown type");
            ct = &m->types[idx];
            TRY(pop(&f, 0x7F, NULL));
            for (k = ct->np; k > 0; k--) TRY(pop(&f, ct->t[k - 1], NULL));
            for (k = 0; k < ct->nr; k++) TRY(push(&f, ct->t[ct->np + k]));
            TRY(emit(&f, 0x11));
            TRY(emit(&f, idx));
            break;
        }
        case 0x1A:
            TRY(pop(&f, 0, NULL));
            TRY(emit(&f, 0x1A));
            break;
        case 0x1B: case 0x1C: {
            uint8_t a, b;
            if (op == 0x1C) {
                uint32_t n;
                TRY(rd_u32(r, &n));
                if (n != 1) return invalid(r, "invalid result arity");
                TRY(rd_valtype(r, &t));
            }
            TRY(pop(&f, 0x7F, NULL));
            if (op == 0x1C) {
                TRY(pop(&f, t, NULL));
                TRY(pop(&f, t, NULL));
                TRY(push(&f, t));
            } else {
                TRY(pop(&f, 0, &a));
                TRY(pop(&f, 0, &b));
                if (a && b && a != b) return invalid(r, "type mismatch");
                TRY(push(&f, a ? a : b));
            }
            TRY(emit(&f, OP_SELECT));
            break;
        }
        case 0x20: case 0x21: case 0x22:
            TRY(rd_u32(r, &idx));
            if (idx >= f.nlocals) return invalid(r, "unknown local");
            t = f.locals[idx];
            if (op == 0x20) TRY(push(&f, t));
            else { TRY(pop(&f, t, NULL)); if (op == 0x22) TRY(push(&f, t)); }
            TRY(emit(&f, op));
            TRY(emit(&f, idx));
            break;
        case 0x23: case 0x24:
            TRY(rd_u32(r, &idx));
            if (idx >= m->nglobals) return invalid(r, "unknown global");
            t = m->globals[idx].type;
            if (op == 0x23) TRY(push(&f, t));
            else {
                if (!m->globals[idx].mut) return invalid(r, "global is immutable");
                TRY(pop(&f, t, NULL));
            }
            TRY(emit(&f, op));
            TRY(emit(&f, idx));
            break;
        case 0x25: case 0x26: return unsupported(r, "reference types (table.get/table.set)");
        case 0x3F: case 0x40: {
            uint8_t b;
            TRY(rd_byte(r, &b));
            if (b != 0) return unsupported(r, "multi-memory (memory index)");
            if (!m->has_memory) return invalid(r, "unknown memory");
            if (op == 0x40) TRY(pop(&f, 0x7F, NULL));
            TRY(push(&f, 0x7F));
            TRY(emit(&f, op));
            break;
        }
        case 0x41: { int32_t v; TRY(rd_s32(r, &v)); TRY(push(&f, 0x7F)); TRY(emit(&f, op)); TRY(emit(&f, (uint32_t)v)); break; }
        case 0x42: { int64_t v; TRY(rd_s64(r, &v)); TRY(push(&f, 0x7E)); TRY(emit(&f, op)); TRY(emit(&f, (uint32_t)(uint64_t)v)); TRY(emit(&f, (uint32_t)((uint64_t)v >> 32))); break; }
        case 0x43: { uint64_t v; TRY(rd_fixed(r, 4, &v)); TRY(push(&f, 0x7D)); TRY(emit(&f, op)); TRY(emit(&f, (uint32_t)v)); break; }
        case 0x44: { uint64_t v; TRY(rd_fixed(r, 8, &v)); TRY(push(&f, 0x7C)); TRY(emit(&f, op)); TRY(emit(&f, (uint32_t)v)); TRY(emit(&f, (uint32_t)(v >> 32))); break; }
        case 0xFC: {
            uint32_t sub;
            TRY(rd_u32(r, &sub));
            if (sub <= 7) {
                uint8_t a, b, res;
                numeric_sig(OP_TRUNC_SAT + sub, &a, &b, &res);
                TRY(pop(&f, a, NULL));
                TRY(push(&f, res));
                TRY(emit(&f, OP_TRUNC_SAT + sub));
            } else if (sub <= 11) return unsupported(r, "bulk memory (opcode 0xfc)");
            else if (sub <= 17) return unsupported(r, "reference types (table instructions, opcode 0xfc)");
            else return malformed(r, "illegal opcode (0xfc prefix)");
            break;
        }
        case 0xFD: return unsupported(r, "simd (opcode 0xfd)");
        case 0xFB: return unsupported(r, "gc (opcode 0xfb)");
        case 0xFE: return unsupported(r, "threads (opcode 0xfe)");
        case 0x06: case 0x07: case 0x08: case 0x09: case 0x0A: case 0x18: case 0x19: case 0x1F:
            return unsupported(r, "exception handling");
        case 0x12: case 0x13: return unsupported(r, "tail calls (return_call)");
        case 0x14: case 0x15: case 0xD3: case 0xD4: case 0xD5: case 0xD6:
            return unsupported(r, "function references");
        case 0xD0: case 0xD1: case 0xD2: return unsupported(r, "reference types (ref.null/ref.is_null/ref.func)");
        default: {
            uint8_t vt, a, b, res;
            uint32_t nat;
            if (mem_natural(op, &vt, &nat)) {
                uint32_t align, offset;
                TRY(rd_u32(r, &align));
                TRY(rd_u32(r, &offset));
                if (align & 0x40) return unsupported(r, "multi-memory (memarg memory index)");
                if (!m->has_memory) return invalid(r, "unknown memory");
                if (align > nat) return invalid(r, "alignment must not be larger than natural");
                if (op >= 0x36) { TRY(pop(&f, vt, NULL)); TRY(pop(&f, 0x7F, NULL)); }
                else { TRY(pop(&f, 0x7F, NULL)); TRY(push(&f, vt)); }
                TRY(emit(&f, op));
                TRY(emit(&f, offset));
            } else if (op >= 0x45 && numeric_sig(op, &a, &b, &res)) {
                if (b) TRY(pop(&f, b, NULL));
                TRY(pop(&f, a, NULL));
                TRY(push(&f, res));
                TRY(emit(&f, op));
            } else {
                char msg[48];
                snprintf(msg, sizeof msg, "illegal opcode 0x%02x", op);
                return malformed(r, msg);
            }
        }
        }
    }
    if (r->p != body_end) return malformed(r, "section size mismatch (function body)");
    pool->used = mark; /* release validation scratch */
    /* give back the unused tail of the code buffer */
    {
        size_t used_bytes = ((size_t)f.ncode * 4 + 15u) & ~(size_t)15u;
        size_t cap_bytes = ((size_t)f.capcode * 4 + 15u) & ~(size_t)15u;
        if ((uint8_t *)f.code + cap_bytes == pool->base + pool->used) pool->used -= cap_bytes - used_bytes;
    }
    out->code = f.code;
    out->ncode = f.ncode;
    out->nlocals = f.nlocals;
    out->max_height = f.nlocals + f.maxvals + 1;
    return 1;
}

/* ---- sections ------------------------------------------------------------ */
static int sec_order(uint8_t id)
{
    /* position in the required order; custom (0) handled apart */
    static const int8_t ord[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6};
    return id < sizeof ord ? ord[id] : -1;
}

#define ALLOC_N(ptr, n) do { \
        if ((n) > 0 && (size_t)(n) > (size_t)-1 / sizeof(*(ptr))) return nomem(r); \
        (ptr) = pw_pool_zalloc(r->pool, (size_t)(n) * sizeof(*(ptr))); \
        if (!(ptr)) return nomem(r); } while (0)

/* a vector count can't exceed the bytes left (each element is >= 1 byte) */
static int rd_count(rd *r, uint32_t *n)
{
    TRY(rd_u32(r, n));
    if (*n > (uint32_t)(r->end - r->p)) return malformed(r, "unexpected end (vector length exceeds section)");
    return 1;
}

static int sec_type(rd *r, pw_module *m)
{
    uint32_t i, k;
    TRY(rd_count(r, &m->ntypes));
    ALLOC_N(m->types, m->ntypes);
    for (i = 0; i < m->ntypes; i++) {
        uint8_t form;
        uint32_t np, nr;
        const uint8_t *save;
        pw_functype *t = &m->types[i];
        TRY(rd_byte(r, &form));
        if (form == 0x4E || form == 0x4F || form == 0x50 || form == 0x5E || form == 0x5F)
            return unsupported(r, "gc (recursive/struct/array types)");
        if (form != 0x60) return malformed(r, "integer representation too long (malformed function type)");
        TRY(rd_count(r, &np));
        save = r->p;
        for (k = 0; k < np; k++) { uint8_t vt; TRY(rd_valtype(r, &vt)); }
        TRY(rd_count(r, &nr));
        if (nr > 1) return unsupported(r, "multi-value (function with more than one result)");
        t->np = np; t->nr = nr;
        t->t = (uint8_t *)pw_pool_alloc(r->pool, (size_t)np + nr);
        if (!t->t) return nomem(r);
        r->p = save;
        for (k = 0; k < np; k++) TRY(rd_valtype(r, &t->t[k]));
        TRY(rd_u32(r, &nr));
        for (k = 0; k < nr; k++) TRY(rd_valtype(r, &t->t[np + k]));
    }
    return 1;
}

static int check_mem_limits(rd *r, uint32_t min, uint32_t max, int has_max)
{
    if (min > PW_MAX_PAGES || (has_max && max > PW_MAX_PAGES))
        return invalid(r, "memory size must be at most 65536 pages (4GiB)");
    if (has_max && min > max) return invalid(r, "size minimum must not be greater than maximum");
    return 1;
}

static int sec_import(rd *r, pw_module *m)
{
    uint32_t i;
    TRY(rd_count(r, &m->nimports));
    ALLOC_N(m->imports, m->nimports);
    /* globals are counted in a first pass so the array can be sized later */
    for (i = 0; i < m->nimports; i++) {
        pw_import *im = &m->imports[i];
        uint8_t kind;
        TRY(rd_name(r, &im->module, &im->mlen));
        TRY(rd_name(r, &im->name, &im->nlen));
        TRY(rd_byte(r, &kind));
        im->kind = kind;
        switch (kind) {
        case 0:
            TRY(rd_u32(r, &im->typeidx));
            if (im->typeidx >= m->ntypes) return invalid(r, "unknown type");
            m->nfunc_imports++;
            break;
        case 1: {
            uint8_t et;
            TRY(rd_byte(r, &et));
            if (et == 0x6F) return unsupported(r, "reference types (externref table)");
            if (et != 0x70) return malformed(r, "malformed reference type");
            TRY(rd_limits(r, &im->min, &im->max, &im->has_max, 0));
            if (im->has_max && im->min > im->max) return invalid(r, "size minimum must not be greater than maximum");
            if (m->has_table) return unsupported(r, "reference types (multiple tables)");
            m->has_table = 1; m->table_imported = 1;
            m->table_min = im->min; m->table_max = im->max; m->table_has_max = im->has_max;
            break;
        }
        case 2:
            TRY(rd_limits(r, &im->min, &im->max, &im->has_max, 1));
            TRY(check_mem_limits(r, im->min, im->max, im->has_max));
            if (m->has_memory) return unsupported(r, "multi-memory (multiple memories)");
            m->has_memory = 1; m->memory_imported = 1;
            m->memory_min = im->min; m->memory_max = im->max; m->memory_has_max = im->has_max;
            break;
        case 3: {
            uint8_t mut;
            TRY(rd_valtype(r, &im->gtype));
            TRY(rd_byte(r, &mut));
            if (mut > 1) return malformed(r, "malformed mutability");
            im->gmut = mut;
            m->nglobal_imports++;
            break;
        }
        case 4: return unsupported(r, "exception handling (tag import)");
        default: return malformed(r, "malformed import kind");
        }
    }
    return 1;
}

static int sec_function(rd *r, pw_module *m, uint32_t *ndefined)
{
    uint32_t i, k = 0;
    TRY(rd_count(r, ndefined));
    if ((uint64_t)m->nfunc_imports + *ndefined > 0xFFFFFFFu) return pw_fail(r->err, PW_ERR_LIMIT, OFF(r), "too many functions");
    m->nfuncs = m->nfunc_imports + *ndefined;
    ALLOC_N(m->func_type, m->nfuncs ? m->nfuncs : 1);
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == 0) m->func_type[k++] = m->imports[i].typeidx;
    for (i = 0; i < *ndefined; i++) {
        uint32_t t;
        TRY(rd_u32(r, &t));
        if (t >= m->ntypes) return invalid(r, "unknown type");
        m->func_type[k++] = t;
    }
    return 1;
}

static int sec_table(rd *r, pw_module *m)
{
    uint32_t n, i;
    TRY(rd_count(r, &n));
    for (i = 0; i < n; i++) {
        uint8_t et;
        uint32_t min, max; int has_max;
        TRY(rd_byte(r, &et));
        if (et == 0x40) return unsupported(r, "function references (table initialiser)");
        if (et == 0x6F) return unsupported(r, "reference types (externref table)");
        if (et == 0x63 || et == 0x64) return unsupported(r, "function references (typed table)");
        if (et != 0x70) return malformed(r, "malformed reference type");
        TRY(rd_limits(r, &min, &max, &has_max, 0));
        if (has_max && min > max) return invalid(r, "size minimum must not be greater than maximum");
        if (m->has_table) return unsupported(r, "reference types (multiple tables)");
        m->has_table = 1;
        m->table_min = min; m->table_max = max; m->table_has_max = has_max;
    }
    return 1;
}

static int sec_memory(rd *r, pw_module *m)
{
    uint32_t n, i;
    TRY(rd_count(r, &n));
    for (i = 0; i < n; i++) {
        uint32_t min, max; int has_max;
        TRY(rd_limits(r, &min, &max, &has_max, 1));
        TRY(check_mem_limits(r, min, max, has_max));
        if (m->has_memory) return unsupported(r, "multi-memory (multiple memories)");
        m->has_memory = 1;
        m->memory_min = min; m->memory_max = max; m->memory_has_max = has_max;
    }
    return 1;
}

static int alloc_globals(rd *r, pw_module *m, uint32_t ndefined)
{
    uint32_t i, k = 0;
    m->nglobals = m->nglobal_imports + ndefined;
    ALLOC_N(m->globals, m->nglobals ? m->nglobals : 1);
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == 3) {
            m->globals[k].type = m->imports[i].gtype;
            m->globals[k].mut = m->imports[i].gmut;
            k++;
        }
    return 1;
}

static int sec_global(rd *r, pw_module *m)
{
    uint32_t n, i;
    TRY(rd_count(r, &n));
    TRY(alloc_globals(r, m, n));
    for (i = 0; i < n; i++) {
        pw_globaldef *g = &m->globals[m->nglobal_imports + i];
        uint8_t mut;
        TRY(rd_valtype(r, &g->type));
        TRY(rd_byte(r, &mut));
        if (mut > 1) return malformed(r, "malformed mutability");
        g->mut = mut;
        TRY(rd_constexpr(r, m, m->nglobal_imports + i, g->type, &g->init));
    }
    return 1;
}

static int sec_export(rd *r, pw_module *m)
{
    uint32_t i, j;
    TRY(rd_count(r, &m->nexports));
    ALLOC_N(m->exports, m->nexports);
    for (i = 0; i < m->nexports; i++) {
        pw_export *e = &m->exports[i];
        uint8_t kind;
        TRY(rd_name(r, &e->name, &e->len));
        TRY(rd_byte(r, &kind));
        TRY(rd_u32(r, &e->idx));
        e->kind = kind;
        switch (kind) {
        case 0: if (e->idx >= m->nfuncs) return invalid(r, "unknown function"); break;
        case 1: if (!m->has_table || e->idx != 0) return invalid(r, "unknown table"); break;
        case 2: if (!m->has_memory || e->idx != 0) return invalid(r, "unknown memory"); break;
        case 3: if (e->idx >= m->nglobals) return invalid(r, "unknown global"); break;
        case 4: return unsupported(r, "exception handling (tag export)");
        default: return malformed(r, "malformed export kind");
        }
        for (j = 0; j < i; j++)
            if (m->exports[j].len == e->len && memcmp(m->exports[j].name, e->name, e->len) == 0)
                return invalid(r, "duplicate export name");
    }
    return 1;
}

static int sec_elem(rd *r, pw_module *m)
{
    uint32_t i, k;
    TRY(rd_count(r, &m->nelems));
    ALLOC_N(m->elems, m->nelems);
    for (i = 0; i < m->nelems; i++) {
        pw_elem *e = &m->elems[i];
        uint32_t flags;
        TRY(rd_u32(r, &flags));
        if (flags != 0) {
            if (flags <= 7) return unsupported(r, "bulk memory / reference types (elem segment flags)");
            return malformed(r, "malformed elements segment kind");
        }
        if (!m->has_table) return invalid(r, "unknown table");
        TRY(rd_constexpr(r, m, m->nglobals, 0x7F, &e->offset));
        TRY(rd_count(r, &e->n));
        ALLOC_N(e->funcs, e->n ? e->n : 1);
        for (k = 0; k < e->n; k++) {
            TRY(rd_u32(r, &e->funcs[k]));
            if (e->funcs[k] >= m->nfuncs) return invalid(r, "unknown function");
        }
    }
    return 1;
}

static int sec_data(rd *r, pw_module *m)
{
    uint32_t i, n;
    TRY(rd_count(r, &n));
    m->ndatas = n;
    ALLOC_N(m->datas, m->ndatas);
    for (i = 0; i < m->ndatas; i++) {
        pw_data *d = &m->datas[i];
        uint32_t flags;
        TRY(rd_u32(r, &flags));
        if (flags == 1 || flags == 2) return unsupported(r, "bulk memory (passive/explicit data segment)");
        if (flags != 0) return malformed(r, "malformed data segment kind");
        if (!m->has_memory) return invalid(r, "unknown memory 0");
        TRY(rd_constexpr(r, m, m->nglobals, 0x7F, &d->offset));
        TRY(rd_u32(r, &d->len));
        if (d->len > (uint32_t)(r->end - r->p)) return malformed(r, "unexpected end of section or function");
        d->bytes = (uint8_t *)pw_pool_alloc(r->pool, d->len ? d->len : 1);
        if (!d->bytes) return nomem(r);
        memcpy(d->bytes, r->p, d->len);
        r->p += d->len;
    }
    return 1;
}

static int sec_code(rd *r, pw_module *m, uint32_t ndefined)
{
    uint32_t n, i;
    TRY(rd_count(r, &n));
    if (n != ndefined) return malformed(r, "function and code section have inconsistent lengths");
    ALLOC_N(m->codes, n ? n : 1);
    for (i = 0; i < n; i++) {
        uint32_t size;
        const uint8_t *end = r->end;
        TRY(rd_u32(r, &size));
        if (size > (uint32_t)(r->end - r->p)) return malformed(r, "unexpected end of section or function");
        r->end = r->p + size;
        m->codes[i].typeidx = m->func_type[m->nfunc_imports + i];
        TRY(compile_body(r, m, &m->types[m->codes[i].typeidx], &m->codes[i], size));
        r->end = end;
    }
    return 1;
}

static int fill_funcs(rd *r, pw_module *m)
{
    uint32_t i, k = 0;
    m->nfuncs = m->nfunc_imports;
    ALLOC_N(m->func_type, m->nfuncs ? m->nfuncs : 1);
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == 0) m->func_type[k++] = m->imports[i].typeidx;
    return 1;
}

pw_status pw_load(const uint8_t *bytes, size_t len, pw_pool *pool, const pw_limits *limits,
                  pw_module **out, pw_error *err)
{
    rd rr, *r = &rr;
    pw_module *m;
    pw_limits deflim = pw_default_limits();
    int last = 0, have_code = 0, have_datacount = 0;
    uint32_t ndefined = 0, datacount = 0;
    size_t mark = pool->used;
    uint64_t v;

    if (err) { err->status = PW_OK; err->trap = PW_TRAP_NONE; err->offset = 0; err->msg[0] = 0; }
    *out = NULL;
    r->p = bytes; r->start = bytes; r->end = bytes + len; r->err = err; r->pool = pool;
    r->lim = limits ? limits : &deflim;
    if (!bytes || len < 4) { malformed(r, "unexpected end (magic header)"); return PW_ERR_MALFORMED; }
    if (!rd_fixed(r, 4, &v)) return PW_ERR_MALFORMED;
    if (v != 0x6D736100u) { r->p = bytes; malformed(r, "magic header not detected"); return PW_ERR_MALFORMED; }
    if (!rd_fixed(r, 4, &v)) { malformed(r, "unexpected end (version)"); return PW_ERR_MALFORMED; }
    if (v != 1) {
        malformed(r, v == 0x1000D ? "unsupported feature: component model (version 0x1000d)" : "unknown binary version");
        return PW_ERR_MALFORMED;
    }
    m = (pw_module *)pw_pool_zalloc(pool, sizeof *m);
    if (!m) { nomem(r); return PW_ERR_NOMEM; }

    while (r->p < r->end) {
        uint8_t id;
        uint32_t size;
        const uint8_t *send, *outer_end = r->end;
        int ok = 1, ord;
        if (!rd_byte(r, &id) || !rd_u32(r, &size)) goto fail;
        if (size > (uint32_t)(r->end - r->p)) { malformed(r, "section size mismatch (unexpected end)"); goto fail; }
        send = r->p + size;
        r->end = send;
        if (id == 0) {
            char *name; uint32_t nlen;
            if (!rd_name(r, &name, &nlen)) goto fail;
            r->p = send;
            r->end = outer_end;
            continue;
        }
        ord = sec_order(id);
        if (ord < 0) { malformed(r, "malformed section id"); goto fail; }
        if (id == 13) { unsupported(r, "exception handling (tag section)"); goto fail; }
        if (ord <= last) { malformed(r, "unexpected content after last section (section out of order or duplicated)"); goto fail; }
        last = ord;
        /* sections a later section depends on may be absent: fill defaults */
        if (ord > 3 && !m->func_type && !fill_funcs(r, m)) goto fail;
        if (ord > 7 && !m->globals && !alloc_globals(r, m, 0)) goto fail;
        switch (id) {
        case 1: ok = sec_type(r, m); break;
        case 2: ok = sec_import(r, m); break;
        case 3: ok = sec_function(r, m, &ndefined); break;
        case 4: ok = sec_table(r, m); break;
        case 5: ok = sec_memory(r, m); break;
        case 6: ok = sec_global(r, m); break;
        case 7: ok = sec_export(r, m); break;
        case 8:
            ok = rd_u32(r, &m->start);
            if (ok) {
                m->has_start = 1;
                if (m->start >= m->nfuncs) ok = invalid(r, "unknown function");
                else {
                    const pw_functype *t = &m->types[m->func_type[m->start]];
                    if (t->np || t->nr) ok = invalid(r, "start function must have type [] -> []");
                }
            }
            break;
        case 9: ok = sec_elem(r, m); break;
        case 12: ok = rd_u32(r, &datacount); have_datacount = 1; break;
        case 10: ok = sec_code(r, m, ndefined); have_code = 1; break;
        case 11:
            ok = sec_data(r, m);
            if (ok && have_datacount && datacount != m->ndatas) ok = malformed(r, "data count and data section have inconsistent lengths");
            have_datacount = 0;
            break;
        }
        if (!ok) goto fail;
        if (r->p != send) { malformed(r, "section size mismatch"); goto fail; }
        r->end = outer_end;
        continue;
    }
    if (!m->func_type && !fill_funcs(r, m)) goto fail;
    if (!m->globals && !alloc_globals(r, m, 0)) goto fail;
    if (ndefined && !have_code) { malformed(r, "function and code section have inconsistent lengths"); goto fail; }
    if (have_datacount && datacount != 0) { malformed(r, "data count and data section have inconsistent lengths"); goto fail; }
    *out = m;
    return PW_OK;
fail:
    pool->used = mark;
    return err ? err->status : PW_ERR_MALFORMED;
}
