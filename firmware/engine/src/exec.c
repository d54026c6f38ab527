/* Instantiation and the interpreter (pw_instantiate, pw_call). */
#include "internal.h"
#include <math.h>

static pw_status fail(pw_error *err, pw_status st, const char *m)
{
    pw_fail(err, st, 0, "%s", m);
    return st;
}

static pw_status trap(pw_error *err, pw_trap t)
{
    pw_fail(err, PW_ERR_TRAP, 0, "%s", pw_trap_message(t));
    if (err) err->trap = t;
    return PW_ERR_TRAP;
}

const char *pw_trap_message(pw_trap t)
{
    switch (t) {
    case PW_TRAP_NONE: return "no trap";
    case PW_TRAP_UNREACHABLE: return "unreachable";
    case PW_TRAP_MEMORY_OOB: return "out of bounds memory access";
    case PW_TRAP_DIV_ZERO: return "integer divide by zero";
    case PW_TRAP_INT_OVERFLOW: return "integer overflow";
    case PW_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case PW_TRAP_UNDEFINED_ELEMENT: return "undefined element";
    case PW_TRAP_UNINITIALIZED_ELEMENT: return "uninitialized element";
    case PW_TRAP_INDIRECT_TYPE_MISMATCH: return "indirect call type mismatch";
    case PW_TRAP_STACK_EXHAUSTED: return "call stack exhausted";
    case PW_TRAP_FUEL_EXHAUSTED: return "fuel exhausted";
    case PW_TRAP_HOST: return "host trap";
    }
    return "trap";
}

const char *pw_status_name(pw_status s)
{
    static const char *n[] = {"ok", "malformed", "invalid", "unsupported", "out of memory (pool)", "limit",
                              "link error", "trap", "not found", "bad arguments", "busy"};
    return (unsigned)s < sizeof n / sizeof *n ? n[s] : "?";
}

/* ---- host objects -------------------------------------------------------- */
pw_imports *pw_imports_new(pw_pool *pool)
{
    pw_imports *imp = (pw_imports *)pw_pool_zalloc(pool, sizeof *imp);
    if (imp) imp->pool = pool;
    return imp;
}

static char *pool_strdup(pw_pool *pool, const char *s, uint32_t *len)
{
    size_t n = strlen(s);
    char *d = (char *)pw_pool_alloc(pool, n + 1);
    if (d) { memcpy(d, s, n + 1); *len = (uint32_t)n; }
    return d;
}

pw_status pw_imports_add_extern(pw_imports *imp, const char *module, const char *name, pw_extern ext)
{
    struct pw_imports_entry *e = (struct pw_imports_entry *)pw_pool_zalloc(imp->pool, sizeof *e);
    if (!e) return PW_ERR_NOMEM;
    e->module = pool_strdup(imp->pool, module, &e->mlen);
    e->name = pool_strdup(imp->pool, name, &e->nlen);
    if (!e->module || !e->name) return PW_ERR_NOMEM;
    e->ext = ext;
    e->next = imp->head;
    imp->head = e;
    return PW_OK;
}

static int sig_type(char c, uint8_t *t)
{
    switch (c) {
    case 'i': *t = PW_I32; return 1;
    case 'I': *t = PW_I64; return 1;
    case 'f': *t = PW_F32; return 1;
    case 'F': *t = PW_F64; return 1;
    }
    return 0;
}

pw_status pw_imports_add_func(pw_imports *imp, const char *module, const char *name, const char *sig,
                              pw_host_fn fn, void *user)
{
    const char *p = sig, *close;
    pw_functype *ft;
    pw_func *f;
    pw_extern ext;
    uint32_t np, nr, k;
    if (!sig || *p != '(' || !(close = strchr(p, ')')) || !fn) return PW_ERR_ARGS;
    np = (uint32_t)(close - p - 1);
    nr = (uint32_t)strlen(close + 1);
    if (nr > 1) return PW_ERR_UNSUPPORTED;
    if (np > 32) return PW_ERR_LIMIT;
    ft = (pw_functype *)pw_pool_zalloc(imp->pool, sizeof *ft);
    f = (pw_func *)pw_pool_zalloc(imp->pool, sizeof *f);
    if (!ft || !f || !(ft->t = (uint8_t *)pw_pool_alloc(imp->pool, np + nr + 1))) return PW_ERR_NOMEM;
    for (k = 0; k < np; k++) if (!sig_type(p[1 + k], &ft->t[k])) return PW_ERR_ARGS;
    for (k = 0; k < nr; k++) if (!sig_type(close[1 + k], &ft->t[np + k])) return PW_ERR_ARGS;
    ft->np = np; ft->nr = nr;
    f->type = ft; f->host = fn; f->user = user;
    ext.kind = PW_EXTERN_FUNC;
    ext.of.func = f;
    return pw_imports_add_extern(imp, module, name, ext);
}

pw_memory *pw_memory_new(pw_pool *pool, uint32_t min, uint32_t max, int has_max)
{
    pw_memory *m;
    if (min > PW_MAX_PAGES || (has_max && max < min)) return NULL;
    m = (pw_memory *)pw_pool_zalloc(pool, sizeof *m);
    if (!m) return NULL;
    m->pool = pool;
    m->pages = min;
    m->max = has_max ? max : PW_MAX_PAGES;
    m->has_max = has_max;
    m->data = pool->base + pool->used;
    if ((size_t)min * PW_PAGE > pool->size - pool->used) return NULL;
    memset(m->data, 0, (size_t)min * PW_PAGE);
    pool->used += (size_t)min * PW_PAGE;
    return m;
}

pw_table *pw_table_new(pw_pool *pool, uint32_t min, uint32_t max, int has_max)
{
    pw_table *t = (pw_table *)pw_pool_zalloc(pool, sizeof *t);
    if (!t) return NULL;
    t->elems = (pw_func **)pw_pool_zalloc(pool, sizeof(pw_func *) * (min ? min : 1));
    if (!t->elems) return NULL;
    t->size = min; t->max = max; t->has_max = has_max;
    return t;
}

pw_global *pw_global_new(pw_pool *pool, pw_value v, int mut)
{
    pw_global *g = (pw_global *)pw_pool_zalloc(pool, sizeof *g);
    if (!g) return NULL;
    g->type = v.type;
    g->mut = (uint8_t)(mut != 0);
    g->val = (v.type == PW_I32 || v.type == PW_F32) ? v.of.i32 : v.of.i64;
    return g;
}

pw_value pw_global_get(const pw_global *g)
{
    pw_value v;
    v.type = g->type;
    v.of.i64 = g->val;
    if (g->type == PW_I32 || g->type == PW_F32) v.of.i32 = (uint32_t)g->val;
    return v;
}

uint8_t *pw_memory_data(pw_memory *m, uint32_t *size)
{
    if (size) *size = m ? m->pages * PW_PAGE : 0;
    return m ? m->data : NULL;
}

pw_memory *pw_instance_memory(pw_instance *inst) { return inst->memory; }
void pw_set_fuel(pw_instance *inst, uint64_t fuel) { inst->fuel = fuel; }
uint64_t pw_get_fuel(const pw_instance *inst) { return inst->fuel; }

/* grow in place at the top of the memory's pool; returns old pages or -1 */
static int32_t mem_grow(pw_memory *m, uint32_t delta, uint32_t cap)
{
    uint32_t old = m->pages;
    uint64_t np = (uint64_t)old + delta;
    size_t add;
    pw_pool *p = m->pool;
    if (delta == 0) return (int32_t)old;
    if (np > m->max || np > cap || np > PW_MAX_PAGES) return -1;
    if (m->data + (size_t)old * PW_PAGE != p->base + p->used) return -1;
    add = (size_t)delta * PW_PAGE;
    if (add > p->size - p->used) return -1;
    memset(p->base + p->used, 0, add);
    p->used += add;
    m->pages = (uint32_t)np;
    return (int32_t)old;
}

/* ---- instantiate --------------------------------------------------------- */
static const struct pw_imports_entry *find_import(const pw_imports *imp, const pw_import *im)
{
    const struct pw_imports_entry *e;
    for (e = imp ? imp->head : NULL; e; e = e->next)
        if (e->mlen == im->mlen && e->nlen == im->nlen && memcmp(e->module, im->module, im->mlen) == 0 &&
            memcmp(e->name, im->name, im->nlen) == 0)
            return e;
    return NULL;
}

static uint64_t eval_const(const pw_instance *inst, const pw_constexpr *ce)
{
    return ce->kind == 0 ? ce->val : inst->globals[ce->val]->val;
}

static pw_status run(pw_instance *inst, const pw_func *fn, uint64_t *args, pw_error *err);

pw_status pw_instantiate(const pw_module *m, const pw_imports *imports, pw_pool *pool, const pw_limits *limits,
                         pw_instance **out, pw_error *err)
{
    pw_instance *inst;
    uint32_t i, fi = 0, gi = 0;
    size_t mark = pool->used;
    pw_status st;
    if (err) { err->status = PW_OK; err->trap = PW_TRAP_NONE; err->offset = 0; err->msg[0] = 0; }
    *out = NULL;
#define NOMEM() do { pool->used = mark; return fail(err, PW_ERR_NOMEM, "pool exhausted"); } while (0)
#define LINKERR(msg) do { pool->used = mark; pw_fail(err, PW_ERR_LINK, 0, "%s: %s.%s", msg, im->module, im->name); return PW_ERR_LINK; } while (0)
    inst = (pw_instance *)pw_pool_zalloc(pool, sizeof *inst);
    if (!inst) NOMEM();
    inst->mod = m;
    inst->limits = limits ? *limits : pw_default_limits();
    inst->fuel = UINT64_MAX;
    inst->funcs = (pw_func **)pw_pool_zalloc(pool, sizeof(pw_func *) * (m->nfuncs + 1));
    inst->own_funcs = (pw_func *)pw_pool_zalloc(pool, sizeof(pw_func) * (m->nfuncs - m->nfunc_imports + 1));
    inst->globals = (pw_global **)pw_pool_zalloc(pool, sizeof(pw_global *) * (m->nglobals + 1));
    if (!inst->funcs || !inst->own_funcs || !inst->globals) NOMEM();

    for (i = 0; i < m->nimports; i++) {
        const pw_import *im = &m->imports[i];
        const struct pw_imports_entry *e = find_import(imports, im);
        if (!e) LINKERR("unknown import");
        if ((uint8_t)e->ext.kind != im->kind) LINKERR("incompatible import type");
        switch (im->kind) {
        case 0:
            if (!pw_functype_eq(e->ext.of.func->type, &m->types[im->typeidx])) LINKERR("incompatible import type");
            inst->funcs[fi++] = e->ext.of.func;
            break;
        case 1: {
            pw_table *t = e->ext.of.table;
            if (t->size < im->min || (im->has_max && (!t->has_max || t->max > im->max))) LINKERR("incompatible import type");
            inst->table = t;
            break;
        }
        case 2: {
            pw_memory *mm = e->ext.of.memory;
            if (mm->pages < im->min || (im->has_max && (!mm->has_max || mm->max > im->max)))
                LINKERR("incompatible import type");
            inst->memory = mm;
            break;
        }
        case 3: {
            pw_global *g = e->ext.of.global;
            if (g->type != im->gtype || g->mut != im->gmut) LINKERR("incompatible import type");
            inst->globals[gi++] = g;
            break;
        }
        }
    }
    for (i = m->nfunc_imports; i < m->nfuncs; i++) {
        pw_func *f = &inst->own_funcs[i - m->nfunc_imports];
        f->inst = inst;
        f->code = &m->codes[i - m->nfunc_imports];
        f->type = &m->types[m->func_type[i]];
        inst->funcs[i] = f;
    }
    for (i = m->nglobal_imports; i < m->nglobals; i++) {
        pw_global *g = (pw_global *)pw_pool_zalloc(pool, sizeof *g);
        if (!g) NOMEM();
        g->type = m->globals[i].type;
        g->mut = m->globals[i].mut;
        inst->globals[i] = g;
        g->val = eval_const(inst, &m->globals[i].init);
    }
    if (m->has_table && !m->table_imported) {
        if (m->table_min > inst->limits.max_table_size) {
            pool->used = mark;
            return fail(err, PW_ERR_LIMIT, "table minimum exceeds the engine's table limit");
        }
        inst->table = pw_table_new(pool, m->table_min, m->table_max, m->table_has_max);
        if (!inst->table) NOMEM();
    }
    inst->max_frames = inst->limits.max_frames;
    inst->frames = (pw_frame *)pw_pool_alloc(pool, sizeof(pw_frame) * (inst->max_frames + 1));
    inst->stack = (uint64_t *)pw_pool_alloc(pool, sizeof(uint64_t) * inst->limits.stack_slots);
    if (!inst->frames || !inst->stack) NOMEM();
    inst->stack_end = inst->stack + inst->limits.stack_slots;
    /* the memory last: it grows in place */
    if (m->has_memory && !m->memory_imported) {
        if (m->memory_min > inst->limits.max_pages) {
            pool->used = mark;
            pw_fail(err, PW_ERR_LIMIT, 0, "memory minimum %u pages exceeds the cap of %u pages", m->memory_min,
                    inst->limits.max_pages);
            return PW_ERR_LIMIT;
        }
        inst->memory = pw_memory_new(pool, m->memory_min, m->memory_max, m->memory_has_max);
        if (!inst->memory) NOMEM();
    }
    *out = inst;
    /* element segments, then data segments, in order; a failing one traps */
    for (i = 0; i < m->nelems; i++) {
        const pw_elem *e = &m->elems[i];
        uint32_t off = (uint32_t)eval_const(inst, &e->offset), k;
        if ((uint64_t)off + e->n > inst->table->size) return trap(err, PW_TRAP_UNDEFINED_ELEMENT);
        for (k = 0; k < e->n; k++) inst->table->elems[off + k] = inst->funcs[e->funcs[k]];
    }
    for (i = 0; i < m->ndatas; i++) {
        const pw_data *d = &m->datas[i];
        uint32_t off = (uint32_t)eval_const(inst, &d->offset);
        if ((uint64_t)off + d->len > (uint64_t)inst->memory->pages * PW_PAGE) return trap(err, PW_TRAP_MEMORY_OOB);
        if (d->len) memcpy(inst->memory->data + off, d->bytes, d->len);
    }
    if (m->has_start) {
        st = run(inst, inst->funcs[m->start], inst->stack, err);
        if (st != PW_OK) return st;
    }
    return PW_OK;
}

/* ---- exports ------------------------------------------------------------- */
static void export_extern(const pw_instance *inst, const pw_export *e, pw_extern *out)
{
    out->kind = (pw_extern_kind)e->kind;
    switch (e->kind) {
    case 0: out->of.func = inst->funcs[e->idx]; break;
    case 1: out->of.table = inst->table; break;
    case 2: out->of.memory = inst->memory; break;
    default: out->of.global = inst->globals[e->idx]; break;
    }
}

pw_status pw_get_export(const pw_instance *inst, const char *name, pw_extern *out)
{
    return pw_get_export_n(inst, name, strlen(name), out);
}

/* Wasm names are byte strings and may hold NUL bytes, hence the length. */
pw_status pw_get_export_n(const pw_instance *inst, const char *name, size_t n, pw_extern *out)
{
    uint32_t i;
    for (i = 0; i < inst->mod->nexports; i++) {
        const pw_export *e = &inst->mod->exports[i];
        if (e->len == n && memcmp(e->name, name, n) == 0) {
            export_extern(inst, e, out);
            return PW_OK;
        }
    }
    return PW_ERR_NOT_FOUND;
}

pw_status pw_func_signature(const pw_func *f, uint8_t *params, uint32_t *np, uint8_t *results, uint32_t *nr,
                            uint32_t cap)
{
    const pw_functype *t = f->type;
    if (t->np > cap || t->nr > cap) return PW_ERR_LIMIT;
    memcpy(params, t->t, t->np);
    memcpy(results, t->t + t->np, t->nr);
    *np = t->np;
    *nr = t->nr;
    return PW_OK;
}

uint32_t pw_export_count(const pw_instance *inst) { return inst->mod->nexports; }

const char *pw_export_at(const pw_instance *inst, uint32_t i, pw_extern *out)
{
    if (i >= inst->mod->nexports) return NULL;
    export_extern(inst, &inst->mod->exports[i], out);
    return inst->mod->exports[i].name;
}

pw_status pw_call(pw_instance *inst, const char *name, const pw_value *args, uint32_t nargs, pw_value *results,
                  uint32_t max_results, uint32_t *nresults, pw_error *err)
{
    return pw_call_n(inst, name, strlen(name), args, nargs, results, max_results, nresults, err);
}

pw_status pw_call_n(pw_instance *inst, const char *name, size_t name_len, const pw_value *args, uint32_t nargs,
                    pw_value *results, uint32_t max_results, uint32_t *nresults, pw_error *err)
{
    pw_extern ext;
    const pw_functype *ft;
    uint32_t k;
    pw_status st;
    if (err) { err->status = PW_OK; err->trap = PW_TRAP_NONE; err->offset = 0; err->msg[0] = 0; }
    if (nresults) *nresults = 0;
    if (pw_get_export_n(inst, name, name_len, &ext) != PW_OK || ext.kind != PW_EXTERN_FUNC)
        return fail(err, PW_ERR_NOT_FOUND, "no exported function of that name");
    ft = ext.of.func->type;
    if (nargs != ft->np || max_results < ft->nr) return fail(err, PW_ERR_ARGS, "wrong number of arguments or results");
    for (k = 0; k < nargs; k++)
        if (args[k].type != ft->t[k]) return fail(err, PW_ERR_ARGS, "argument type mismatch");
    if (inst->running) return fail(err, PW_ERR_BUSY, "instance is already running (re-entrant call)");
    if (ft->np > inst->limits.stack_slots) return trap(err, PW_TRAP_STACK_EXHAUSTED);
    for (k = 0; k < nargs; k++)
        inst->stack[k] = (ft->t[k] == PW_I32 || ft->t[k] == PW_F32) ? args[k].of.i32 : args[k].of.i64;
    st = run(inst, ext.of.func, inst->stack, err);
    if (st != PW_OK) return st;
    for (k = 0; k < ft->nr; k++) {
        uint8_t t = ft->t[ft->np + k];
        results[k].type = t;
        results[k].of.i64 = inst->stack[k];
        if (t == PW_I32 || t == PW_F32) results[k].of.i32 = (uint32_t)inst->stack[k];
    }
    if (nresults) *nresults = ft->nr;
    return PW_OK;
}

/* ---- the interpreter ----------------------------------------------------- */
static uint32_t ld16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t ld32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { st16(p, v); st16(p + 2, v >> 16); }
static void st64(uint8_t *p, uint64_t v) { st32(p, (uint32_t)v); st32(p + 4, (uint32_t)(v >> 32)); }

static float F32(uint64_t b) { float f; uint32_t u = (uint32_t)b; memcpy(&f, &u, 4); return f; }
static uint64_t BF32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double F64(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static uint64_t BF64(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static uint32_t clz32(uint32_t x) { uint32_t n = 0; if (!x) return 32; while (!(x & 0x80000000u)) { x <<= 1; n++; } return n; }
static uint32_t ctz32(uint32_t x) { uint32_t n = 0; if (!x) return 32; while (!(x & 1u)) { x >>= 1; n++; } return n; }
static uint32_t pop32(uint32_t x) { uint32_t n = 0; while (x) { x &= x - 1; n++; } return n; }
static uint64_t clz64(uint64_t x) { uint64_t n = 0; if (!x) return 64; while (!(x & 0x8000000000000000ull)) { x <<= 1; n++; } return n; }
static uint64_t ctz64(uint64_t x) { uint64_t n = 0; if (!x) return 64; while (!(x & 1u)) { x >>= 1; n++; } return n; }
static uint64_t pop64(uint64_t x) { uint64_t n = 0; while (x) { x &= x - 1; n++; } return n; }
static uint32_t shrs32(uint32_t a, uint32_t s) { s &= 31; return (a >> s) | ((a & 0x80000000u) && s ? ~(0xFFFFFFFFu >> s) : 0); }
static uint64_t shrs64(uint64_t a, uint64_t s) { s &= 63; return (a >> s) | ((a & 0x8000000000000000ull) && s ? ~(~0ull >> s) : 0); }
static uint32_t rotl32(uint32_t a, uint32_t s) { s &= 31; return s ? (a << s) | (a >> (32 - s)) : a; }
static uint32_t rotr32(uint32_t a, uint32_t s) { s &= 31; return s ? (a >> s) | (a << (32 - s)) : a; }
static uint64_t rotl64(uint64_t a, uint64_t s) { s &= 63; return s ? (a << s) | (a >> (64 - s)) : a; }
static uint64_t rotr64(uint64_t a, uint64_t s) { s &= 63; return s ? (a >> s) | (a << (64 - s)) : a; }

/* spec min/max: NaN in -> NaN out; -0 < +0 */
static uint64_t fmin32(uint64_t ab, uint64_t bb)
{
    float a = F32(ab), b = F32(bb);
    if (a != a || b != b) return BF32(a + b);
    if (a == b) return (ab | bb) & 0xFFFFFFFFu;
    return a < b ? ab : bb;
}
static uint64_t fmax32(uint64_t ab, uint64_t bb)
{
    float a = F32(ab), b = F32(bb);
    if (a != a || b != b) return BF32(a + b);
    if (a == b) return (ab & bb) & 0xFFFFFFFFu;
    return a > b ? ab : bb;
}
static uint64_t fmin64(uint64_t ab, uint64_t bb)
{
    double a = F64(ab), b = F64(bb);
    if (a != a || b != b) return BF64(a + b);
    if (a == b) return ab | bb;
    return a < b ? ab : bb;
}
static uint64_t fmax64(uint64_t ab, uint64_t bb)
{
    double a = F64(ab), b = F64(bb);
    if (a != a || b != b) return BF64(a + b);
    if (a == b) return ab & bb;
    return a > b ? ab : bb;
}

/* float -> int: returns 0 ok, else the trap; sat selects saturating mode */
static pw_trap trunc_op(uint32_t kind, uint64_t in, uint64_t *out, int sat)
{
    /* kind: bit0 unsigned, bit1 from f64, bit2 to i64 */
    double x = (kind & 2) ? F64(in) : (double)F32(in);
    int u = kind & 1, w = (kind & 4) != 0;
    double lo, hi; /* valid iff lo < x < hi (exclusive) */
    if (x != x) { if (sat) { *out = 0; return PW_TRAP_NONE; } return PW_TRAP_INVALID_CONVERSION; }
    if (!w) { lo = u ? -1.0 : -2147483649.0; hi = u ? 4294967296.0 : 2147483648.0; }
    else { lo = u ? -1.0 : -9223372036854777856.0; hi = u ? 18446744073709551616.0 : 9223372036854775808.0; }
    if (!(x > lo)) {
        if (!sat) return PW_TRAP_INT_OVERFLOW;
        *out = u ? 0 : (w ? 0x8000000000000000ull : 0x80000000u);
        return PW_TRAP_NONE;
    }
    if (!(x < hi)) {
        if (!sat) return PW_TRAP_INT_OVERFLOW;
        *out = u ? (w ? ~0ull : 0xFFFFFFFFu) : (w ? 0x7FFFFFFFFFFFFFFFull : 0x7FFFFFFFu);
        return PW_TRAP_NONE;
    }
    if (!w) *out = u ? (uint32_t)x : (uint32_t)(int32_t)x;
    else *out = u ? (uint64_t)x : (uint64_t)(int64_t)x;
    return PW_TRAP_NONE;
}

#define TRAP(t) do { tr = (t); goto trapped; } while (0)
#define A32 ((uint32_t)sp[-2])
#define B32 ((uint32_t)sp[-1])
#define BIN32(e) do { uint32_t a = A32, b = B32; (void)a; (void)b; sp--; sp[-1] = (uint32_t)(e); } while (0)
#define BIN64(e) do { uint64_t a = sp[-2], b = sp[-1]; (void)a; (void)b; sp--; sp[-1] = (uint64_t)(e); } while (0)
#define UN32(e) do { uint32_t a = (uint32_t)sp[-1]; sp[-1] = (uint32_t)(e); } while (0)
#define UN64(e) do { uint64_t a = sp[-1]; sp[-1] = (uint64_t)(e); } while (0)
#define FBIN32(e) do { float a = F32(sp[-2]), b = F32(sp[-1]); sp--; sp[-1] = (e); } while (0)
#define FBIN64(e) do { double a = F64(sp[-2]), b = F64(sp[-1]); sp--; sp[-1] = (e); } while (0)
#define FUN32(e) do { float a = F32(sp[-1]); sp[-1] = BF32(e); } while (0)
#define FUN64(e) do { double a = F64(sp[-1]); sp[-1] = BF64(e); } while (0)
#define EA(n) \
    uint64_t ea = (uint64_t)(uint32_t)sp[-1] + pc[0]; \
    uint8_t *p; \
    if (!mem || ea + (n) > (uint64_t)mem->pages * PW_PAGE) TRAP(PW_TRAP_MEMORY_OOB); \
    p = mem->data + ea; pc++
#define EAS(n) \
    uint64_t v = sp[-1]; \
    uint64_t ea = (uint64_t)(uint32_t)sp[-2] + pc[0]; \
    uint8_t *p; \
    if (!mem || ea + (n) > (uint64_t)mem->pages * PW_PAGE) TRAP(PW_TRAP_MEMORY_OOB); \
    p = mem->data + ea; pc++; sp -= 2

static pw_status run(pw_instance *entry, const pw_func *fn, uint64_t *base, pw_error *err)
{
    pw_frame *frames = entry->frames;
    uint32_t depth = 0, max_frames = entry->max_frames;
    uint64_t *stack_end = entry->stack_end;
    uint64_t fuel = entry->fuel;
    pw_instance *inst = entry;
    pw_memory *mem = NULL;
    const pw_func *cur = NULL, *callee = fn;
    const uint32_t *pc = NULL, *code0 = NULL;
    uint64_t *fp = base, *sp = base + fn->type->np;
    pw_trap tr = PW_TRAP_NONE;
    pw_status st = PW_OK;

    entry->running = 1;
    frames[depth].func = NULL; /* sentinel: returning to it ends the run */
    frames[depth].inst = entry;
    frames[depth].fp = base;
    frames[depth].ret_pc = NULL;
    depth++;
    goto do_call;

    for (;;) {
        uint32_t op;
        if (fuel == 0) TRAP(PW_TRAP_FUEL_EXHAUSTED);
        fuel--;
        op = *pc++;
        switch (op) {
        case 0x00: TRAP(PW_TRAP_UNREACHABLE);
        case 0x04: /* if [else_target] */
            sp--;
            if ((uint32_t)sp[0]) pc++; else pc = code0 + pc[0];
            break;
        case OP_JMP: pc = code0 + pc[0]; break;
        case 0x0D: /* br_if [target arity height] */
            sp--;
            if (!(uint32_t)sp[0]) { pc += 3; break; }
            /* fall through */
        case 0x0C: {
            uint32_t arity = pc[1], h = pc[2];
            if (arity) fp[h] = sp[-1];
            sp = fp + h + arity;
            pc = code0 + pc[0];
            break;
        }
        case 0x0E: {
            uint32_t n = pc[0], i = (uint32_t)*--sp;
            const uint32_t *e;
            if (i > n) i = n;
            e = pc + 1 + 3 * i;
            if (e[1]) fp[e[2]] = sp[-1];
            sp = fp + e[2] + e[1];
            pc = code0 + e[0];
            break;
        }
        case 0x0F: {
            uint32_t nr = cur->type->nr;
            pw_frame *fr;
            if (nr) fp[0] = sp[-1];
            sp = fp + nr;
            fr = &frames[--depth];
            if (!fr->func) goto done;
            cur = fr->func; pc = fr->ret_pc; fp = fr->fp; inst = fr->inst;
            code0 = cur->code->code; mem = inst->memory;
            break;
        }
        case 0x10:
            callee = inst->funcs[pc[0]];
            pc++;
            goto do_call;
        case 0x11: {
            uint32_t i = (uint32_t)*--sp;
            const pw_table *t = inst->table;
            const pw_functype *want = &inst->mod->types[pc[0]];
            pc++;
            if (i >= t->size) TRAP(PW_TRAP_UNDEFINED_ELEMENT);
            callee = t->elems[i];
            if (!callee) TRAP(PW_TRAP_UNINITIALIZED_ELEMENT);
            if (callee->type != want && !pw_functype_eq(callee->type, want)) TRAP(PW_TRAP_INDIRECT_TYPE_MISMATCH);
            goto do_call;
        }
        case 0x1A: sp--; break;
        case OP_SELECT:
            sp -= 2;
            if (!(uint32_t)sp[1]) sp[-1] = sp[0];
            break;
        case 0x20: *sp++ = fp[pc[0]]; pc++; break;
        case 0x21: fp[pc[0]] = *--sp; pc++; break;
        case 0x22: fp[pc[0]] = sp[-1]; pc++; break;
        case 0x23: *sp++ = inst->globals[pc[0]]->val; pc++; break;
        case 0x24: inst->globals[pc[0]]->val = *--sp; pc++; break;
        case 0x28: { EA(4); sp[-1] = ld32(p); break; }
        case 0x29: { EA(8); sp[-1] = ld64(p); break; }
        case 0x2A: { EA(4); sp[-1] = ld32(p); break; }
        case 0x2B: { EA(8); sp[-1] = ld64(p); break; }
        case 0x2C: { EA(1); sp[-1] = (uint32_t)(int32_t)(int8_t)p[0]; break; }
        case 0x2D: { EA(1); sp[-1] = p[0]; break; }
        case 0x2E: { EA(2); sp[-1] = (uint32_t)(int32_t)(int16_t)ld16(p); break; }
        case 0x2F: { EA(2); sp[-1] = ld16(p); break; }
        case 0x30: { EA(1); sp[-1] = (uint64_t)(int64_t)(int8_t)p[0]; break; }
        case 0x31: { EA(1); sp[-1] = p[0]; break; }
        case 0x32: { EA(2); sp[-1] = (uint64_t)(int64_t)(int16_t)ld16(p); break; }
        case 0x33: { EA(2); sp[-1] = ld16(p); break; }
        case 0x34: { EA(4); sp[-1] = (uint64_t)(int64_t)(int32_t)ld32(p); break; }
        case 0x35: { EA(4); sp[-1] = ld32(p); break; }
        case 0x36: { EAS(4); st32(p, (uint32_t)v); break; }
        case 0x37: { EAS(8); st64(p, v); break; }
        case 0x38: { EAS(4); st32(p, (uint32_t)v); break; }
        case 0x39: { EAS(8); st64(p, v); break; }
        case 0x3A: { EAS(1); p[0] = (uint8_t)v; break; }
        case 0x3B: { EAS(2); st16(p, (uint32_t)v); break; }
        case 0x3C: { EAS(1); p[0] = (uint8_t)v; break; }
        case 0x3D: { EAS(2); st16(p, (uint32_t)v); break; }
        case 0x3E: { EAS(4); st32(p, (uint32_t)v); break; }
        case 0x3F: *sp++ = mem->pages; break;
        case 0x40: sp[-1] = (uint32_t)mem_grow(mem, (uint32_t)sp[-1], inst->limits.max_pages); break;
        case 0x41: case 0x43: *sp++ = pc[0]; pc++; break;
        case 0x42: case 0x44: *sp++ = (uint64_t)pc[0] | (uint64_t)pc[1] << 32; pc += 2; break;

        case 0x45: UN32(a == 0); break;
        case 0x46: BIN32(a == b); break;
        case 0x47: BIN32(a != b); break;
        case 0x48: BIN32((int32_t)a < (int32_t)b); break;
        case 0x49: BIN32(a < b); break;
        case 0x4A: BIN32((int32_t)a > (int32_t)b); break;
        case 0x4B: BIN32(a > b); break;
        case 0x4C: BIN32((int32_t)a <= (int32_t)b); break;
        case 0x4D: BIN32(a <= b); break;
        case 0x4E: BIN32((int32_t)a >= (int32_t)b); break;
        case 0x4F: BIN32(a >= b); break;
        case 0x50: sp[-1] = sp[-1] == 0; break;
        case 0x51: BIN64(a == b); break;
        case 0x52: BIN64(a != b); break;
        case 0x53: BIN64((int64_t)a < (int64_t)b); break;
        case 0x54: BIN64(a < b); break;
        case 0x55: BIN64((int64_t)a > (int64_t)b); break;
        case 0x56: BIN64(a > b); break;
        case 0x57: BIN64((int64_t)a <= (int64_t)b); break;
        case 0x58: BIN64(a <= b); break;
        case 0x59: BIN64((int64_t)a >= (int64_t)b); break;
        case 0x5A: BIN64(a >= b); break;
        case 0x5B: FBIN32(a == b); break;
        case 0x5C: FBIN32(a != b); break;
        case 0x5D: FBIN32(a < b); break;
        case 0x5E: FBIN32(a > b); break;
        case 0x5F: FBIN32(a <= b); break;
        case 0x60: FBIN32(a >= b); break;
        case 0x61: FBIN64(a == b); break;
        case 0x62: FBIN64(a != b); break;
        case 0x63: FBIN64(a < b); break;
        case 0x64: FBIN64(a > b); break;
        case 0x65: FBIN64(a <= b); break;
        case 0x66: FBIN64(a >= b); break;

        case 0x67: UN32(clz32(a)); break;
        case 0x68: UN32(ctz32(a)); break;
        case 0x69: UN32(pop32(a)); break;
        case 0x6A: BIN32(a + b); break;
        case 0x6B: BIN32(a - b); break;
        case 0x6C: BIN32(a * b); break;
        case 0x6D: {
            uint32_t a = A32, b = B32;
            if (b == 0) TRAP(PW_TRAP_DIV_ZERO);
            if (a == 0x80000000u && b == 0xFFFFFFFFu) TRAP(PW_TRAP_INT_OVERFLOW);
            sp--; sp[-1] = (uint32_t)((int32_t)a / (int32_t)b);
            break;
        }
        case 0x6E: if (B32 == 0) TRAP(PW_TRAP_DIV_ZERO); BIN32(a / b); break;
        case 0x6F: {
            uint32_t a = A32, b = B32;
            if (b == 0) TRAP(PW_TRAP_DIV_ZERO);
            sp--; sp[-1] = (b == 0xFFFFFFFFu) ? 0 : (uint32_t)((int32_t)a % (int32_t)b);
            break;
        }
        case 0x70: if (B32 == 0) TRAP(PW_TRAP_DIV_ZERO); BIN32(a % b); break;
        case 0x71: BIN32(a & b); break;
        case 0x72: BIN32(a | b); break;
        case 0x73: BIN32(a ^ b); break;
        case 0x74: BIN32(a << (b & 31)); break;
        case 0x75: BIN32(shrs32(a, b)); break;
        case 0x76: BIN32(a >> (b & 31)); break;
        case 0x77: BIN32(rotl32(a, b)); break;
        case 0x78: BIN32(rotr32(a, b)); break;

        case 0x79: UN64(clz64(a)); break;
        case 0x7A: UN64(ctz64(a)); break;
        case 0x7B: UN64(pop64(a)); break;
        case 0x7C: BIN64(a + b); break;
        case 0x7D: BIN64(a - b); break;
        case 0x7E: BIN64(a * b); break;
        case 0x7F: {
            uint64_t a = sp[-2], b = sp[-1];
            if (b == 0) TRAP(PW_TRAP_DIV_ZERO);
            if (a == 0x8000000000000000ull && b == ~0ull) TRAP(PW_TRAP_INT_OVERFLOW);
            sp--; sp[-1] = (uint64_t)((int64_t)a / (int64_t)b);
            break;
        }
        case 0x80: if (sp[-1] == 0) TRAP(PW_TRAP_DIV_ZERO); BIN64(a / b); break;
        case 0x81: {
            uint64_t a = sp[-2], b = sp[-1];
            if (b == 0) TRAP(PW_TRAP_DIV_ZERO);
            sp--; sp[-1] = (b == ~0ull) ? 0 : (uint64_t)((int64_t)a % (int64_t)b);
            break;
        }
        case 0x82: if (sp[-1] == 0) TRAP(PW_TRAP_DIV_ZERO); BIN64(a % b); break;
        case 0x83: BIN64(a & b); break;
        case 0x84: BIN64(a | b); break;
        case 0x85: BIN64(a ^ b); break;
        case 0x86: BIN64(a << (b & 63)); break;
        case 0x87: BIN64(shrs64(a, b)); break;
        case 0x88: BIN64(a >> (b & 63)); break;
        case 0x89: BIN64(rotl64(a, b)); break;
        case 0x8A: BIN64(rotr64(a, b)); break;

        case 0x8B: sp[-1] = (uint32_t)sp[-1] & 0x7FFFFFFFu; break;
        case 0x8C: sp[-1] = ((uint32_t)sp[-1] ^ 0x80000000u); break;
        case 0x8D: FUN32(a != a ? a + a : ceilf(a)); break;
        case 0x8E: FUN32(a != a ? a + a : floorf(a)); break;
        case 0x8F: FUN32(a != a ? a + a : truncf(a)); break;
        case 0x90: FUN32(a != a ? a + a : nearbyintf(a)); break;
        case 0x91: FUN32(sqrtf(a)); break;
        case 0x92: FBIN32(BF32(a + b)); break;
        case 0x93: FBIN32(BF32(a - b)); break;
        case 0x94: FBIN32(BF32(a * b)); break;
        case 0x95: FBIN32(BF32(a / b)); break;
        case 0x96: { uint64_t r = fmin32(sp[-2], sp[-1]); sp--; sp[-1] = r; break; }
        case 0x97: { uint64_t r = fmax32(sp[-2], sp[-1]); sp--; sp[-1] = r; break; }
        case 0x98: { uint32_t a = A32, b = B32; sp--; sp[-1] = (a & 0x7FFFFFFFu) | (b & 0x80000000u); break; }
        case 0x99: sp[-1] &= 0x7FFFFFFFFFFFFFFFull; break;
        case 0x9A: sp[-1] ^= 0x8000000000000000ull; break;
        case 0x9B: FUN64(a != a ? a + a : ceil(a)); break;
        case 0x9C: FUN64(a != a ? a + a : floor(a)); break;
        case 0x9D: FUN64(a != a ? a + a : trunc(a)); break;
        case 0x9E: FUN64(a != a ? a + a : nearbyint(a)); break;
        case 0x9F: FUN64(sqrt(a)); break;
        case 0xA0: FBIN64(BF64(a + b)); break;
        case 0xA1: FBIN64(BF64(a - b)); break;
        case 0xA2: FBIN64(BF64(a * b)); break;
        case 0xA3: FBIN64(BF64(a / b)); break;
        case 0xA4: { uint64_t r = fmin64(sp[-2], sp[-1]); sp--; sp[-1] = r; break; }
        case 0xA5: { uint64_t r = fmax64(sp[-2], sp[-1]); sp--; sp[-1] = r; break; }
        case 0xA6: { uint64_t a = sp[-2], b = sp[-1]; sp--; sp[-1] = (a & 0x7FFFFFFFFFFFFFFFull) | (b & 0x8000000000000000ull); break; }

        case 0xA7: sp[-1] = (uint32_t)sp[-1]; break;
        case 0xA8: case 0xA9: case 0xAA: case 0xAB: case 0xAE: case 0xAF: case 0xB0: case 0xB1: {
            static const uint8_t kind[] = {0, 1, 2, 3, 0, 0, 4, 5, 6, 7};
            pw_trap t = trunc_op(kind[op - 0xA8], sp[-1], &sp[-1], 0);
            if (t) TRAP(t);
            break;
        }
        case 0xAC: sp[-1] = (uint64_t)(int64_t)(int32_t)(uint32_t)sp[-1]; break;
        case 0xAD: sp[-1] = (uint32_t)sp[-1]; break;
        case 0xB2: sp[-1] = BF32((float)(int32_t)(uint32_t)sp[-1]); break;
        case 0xB3: sp[-1] = BF32((float)(uint32_t)sp[-1]); break;
        case 0xB4: sp[-1] = BF32((float)(int64_t)sp[-1]); break;
        case 0xB5: sp[-1] = BF32((float)sp[-1]); break;
        case 0xB6: sp[-1] = BF32((float)F64(sp[-1])); break;
        case 0xB7: sp[-1] = BF64((double)(int32_t)(uint32_t)sp[-1]); break;
        case 0xB8: sp[-1] = BF64((double)(uint32_t)sp[-1]); break;
        case 0xB9: sp[-1] = BF64((double)(int64_t)sp[-1]); break;
        case 0xBA: sp[-1] = BF64((double)sp[-1]); break;
        case 0xBB: sp[-1] = BF64((double)F32(sp[-1])); break;
        case 0xBC: case 0xBD: case 0xBE: case 0xBF: break; /* bits stay */
        case 0xC0: UN32((uint32_t)(int32_t)(int8_t)(uint8_t)a); break;
        case 0xC1: UN32((uint32_t)(int32_t)(int16_t)(uint16_t)a); break;
        case 0xC2: UN64((uint64_t)(int64_t)(int8_t)(uint8_t)a); break;
        case 0xC3: UN64((uint64_t)(int64_t)(int16_t)(uint16_t)a); break;
        case 0xC4: UN64((uint64_t)(int64_t)(int32_t)(uint32_t)a); break;
        default:
            if (op >= OP_TRUNC_SAT && op <= OP_TRUNC_SAT + 7) {
                static const uint8_t kind[] = {0, 1, 2, 3, 4, 5, 6, 7};
                (void)trunc_op(kind[op - OP_TRUNC_SAT], sp[-1], &sp[-1], 1);
                break;
            }
            /* validated code never gets here */
            TRAP(PW_TRAP_UNREACHABLE);
        }
        continue;

    do_call:
        if (callee->host) {
            pw_value a[32], r[2];
            const pw_functype *ft = callee->type;
            uint32_t k, np = ft->np;
            uint64_t *args = sp - np;
            for (k = 0; k < np; k++) {
                a[k].type = ft->t[k];
                a[k].of.i64 = args[k];
                if (ft->t[k] == PW_I32 || ft->t[k] == PW_F32) a[k].of.i32 = (uint32_t)args[k];
            }
            memset(r, 0, sizeof r);
            tr = callee->host(inst, callee->user, a, r);
            if (tr != PW_TRAP_NONE) goto trapped;
            if (ft->nr) {
                uint8_t t = ft->t[np];
                args[0] = (t == PW_I32 || t == PW_F32) ? r[0].of.i32 : r[0].of.i64;
            }
            sp = args + ft->nr;
            if (!cur) goto done; /* the entry function itself was a host function */
            continue;
        } else {
            const pw_code *c = callee->code;
            uint64_t *nfp = sp - callee->type->np;
            if (depth >= max_frames || nfp + c->max_height > stack_end) TRAP(PW_TRAP_STACK_EXHAUSTED);
            frames[depth].func = cur;
            frames[depth].ret_pc = pc;
            frames[depth].fp = fp;
            frames[depth].inst = inst;
            if (cur) depth++;
            else { frames[0].func = NULL; depth = 1; }
            memset(nfp + callee->type->np, 0, sizeof(uint64_t) * (c->nlocals - callee->type->np));
            fp = nfp;
            sp = fp + c->nlocals;
            cur = callee;
            inst = callee->inst;
            mem = inst->memory;
            code0 = pc = c->code;
        }
    }
trapped:
    st = trap(err, tr);
done:
    entry->fuel = fuel;
    entry->running = 0;
    return st;
}
