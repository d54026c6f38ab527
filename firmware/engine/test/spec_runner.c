/* Runs the WebAssembly spec test scripts (as converted by wast2json) against
 * the pwasm engine. Usage: spec_runner [-v] file.json...
 * Prints pass/fail/skip per file and a total; skips are named. Exit status 1
 * if anything failed. */
#define _DEFAULT_SOURCE
#include "pwasm.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define REGION (((size_t)1 << 30) + ((size_t)16 << 20))
#define MAX_INST 4096
#define MAX_REASONS 64

static int verbose;
static int npass, nfail, nskip;
static struct { char text[160]; int count; } reasons[MAX_REASONS];
static int nreasons;

static void *regions[MAX_INST];
static int nregions;
static struct { char name[128]; pw_instance *inst; char skip[160]; } named[MAX_INST];
static int nnamed;

/* register names whose module was skipped: importers are skipped too */
static struct { char name[128]; char why[160]; } skipped_reg[256];
static int nskipped_reg;

/* Registered instances. A module skipped later may have imported one and
 * changed its memory, table or globals (data/elem segments, start), so
 * actions on instances registered before a skipped module are skipped too. */
static struct { pw_instance *inst; char taint[160]; } reg_inst[256];
static int nreg_inst;

static void taint_registered(const char *why)
{
    int i;
    for (i = 0; i < nreg_inst; i++)
        if (!reg_inst[i].taint[0])
            snprintf(reg_inst[i].taint, sizeof reg_inst[i].taint, "shares state with a skipped module: %.120s", why);
}

static const char *tainted(const pw_instance *inst)
{
    int i;
    for (i = 0; i < nreg_inst; i++)
        if (reg_inst[i].inst == inst && reg_inst[i].taint[0]) return reg_inst[i].taint;
    return NULL;
}

static pw_pool modpool, regpool, hostpool;
static uint8_t *modbuf, *regbuf, *hostbuf;
static pw_imports *registry;
static pw_limits lim;
static pw_instance *current;
static char current_skip[160]; /* why the current module is not available */
static const char *curfile;

static void skip(int line, const char *why)
{
    int i;
    nskip++;
    for (i = 0; i < nreasons; i++)
        if (strcmp(reasons[i].text, why) == 0) { reasons[i].count++; return; }
    if (nreasons < MAX_REASONS) {
        snprintf(reasons[nreasons].text, sizeof reasons[nreasons].text, "%s", why);
        reasons[nreasons++].count = 1;
    } else reasons[MAX_REASONS - 1].count++;
    if (verbose) printf("  skip %s:%d: %s\n", curfile, line, why);
}

static void failf(int line, const char *fmt, const char *a, const char *b)
{
    nfail++;
    printf("  FAIL %s:%d: ", curfile, line);
    printf(fmt, a ? a : "", b ? b : "");
    printf("\n");
}

/* ---- spectest host module ------------------------------------------------ */
static pw_trap host_print(pw_instance *c, void *u, const pw_value *a, pw_value *r)
{
    (void)c; (void)u; (void)a; (void)r;
    return PW_TRAP_NONE;
}

static void add_spectest(void)
{
    pw_value v;
    pw_extern e;
    pw_imports_add_func(registry, "spectest", "print", "()", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_i32", "(i)", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_i64", "(I)", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_f32", "(f)", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_f64", "(F)", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_i32_f32", "(if)", host_print, NULL);
    pw_imports_add_func(registry, "spectest", "print_f64_f64", "(FF)", host_print, NULL);
    e.kind = PW_EXTERN_GLOBAL;
    v.type = PW_I32; v.of.i64 = 0; v.of.i32 = 666;
    e.of.global = pw_global_new(&regpool, v, 0);
    pw_imports_add_extern(registry, "spectest", "global_i32", e);
    v.type = PW_I64; v.of.i64 = 666;
    e.of.global = pw_global_new(&regpool, v, 0);
    pw_imports_add_extern(registry, "spectest", "global_i64", e);
    v.type = PW_F32; v.of.i64 = 0; v.of.f32_bits = 0x4426a666u; /* 666.6 */
    e.of.global = pw_global_new(&regpool, v, 0);
    pw_imports_add_extern(registry, "spectest", "global_f32", e);
    v.type = PW_F64; v.of.f64_bits = 0x4084d4cccccccccdull;
    e.of.global = pw_global_new(&regpool, v, 0);
    pw_imports_add_extern(registry, "spectest", "global_f64", e);
    e.kind = PW_EXTERN_TABLE;
    e.of.table = pw_table_new(&regpool, 10, 20, 1);
    pw_imports_add_extern(registry, "spectest", "table", e);
    /* the memory is last in its own pool so it can grow */
    pw_pool_init(&hostpool, hostbuf, 4u << 20);
    e.kind = PW_EXTERN_MEMORY;
    e.of.memory = pw_memory_new(&hostpool, 1, 2, 1);
    pw_imports_add_extern(registry, "spectest", "memory", e);
}

/* ---- helpers ------------------------------------------------------------- */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (uint8_t *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}

static char dir[1024];

/* JSON strings from cJSON are NUL-terminated, but Wasm names may contain NUL.
 * Before parsing, main() turns each \u0000 escape into the byte 0xFF (never
 * produced by wast2json, which writes UTF-8); this maps it back. */
static size_t field_name(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n < cap; s++) out[n++] = (*s == (char)0xFF) ? 0 : *s;
    return n;
}

static void mark_nul_escapes(char *json)
{
    char *r = json, *w = json;
    while (*r) {
        if (r[0] == '\\' && r[1] == 'u' && !strncmp(r + 2, "0000", 4)) { *w++ = (char)0xFF; r += 6; }
        else if (r[0] == '\\' && r[1]) { *w++ = *r++; *w++ = *r++; }
        else *w++ = *r++;
    }
    *w = 0;
}

/* The pre-pass (test/wast_prepass.mjs) replaces a module wast2json cannot
 * parse with an empty module carrying a custom section "propeller-skip"
 * whose payload is the reason; such a module is skipped by that name. */
static int skip_marker(const char *filename, char *why, size_t cap)
{
    static const char tag[] = "propeller-skip";
    char path[2048];
    size_t len, i;
    uint8_t *b;
    int found = 0;
    snprintf(path, sizeof path, "%s/%s", dir, filename);
    b = read_file(path, &len);
    if (!b) return 0;
    for (i = 8; i + sizeof tag - 1 <= len && i < 16; i++)
        if (!memcmp(b + i, tag, sizeof tag - 1)) {
            size_t k = i + sizeof tag - 1, n = len - k;
            if (n >= cap) n = cap - 1;
            memcpy(why, b + k, n);
            why[n] = 0;
            found = 1;
            break;
        }
    free(b);
    return found;
}

/* If a link error names an import from a register name whose module was
 * skipped, the reason to skip instead of fail. */
static const char *skipped_import(const pw_error *err)
{
    static const char pre[] = "unknown import: ";
    int i;
    if (err->status != PW_ERR_LINK || strncmp(err->msg, pre, sizeof pre - 1)) return NULL;
    for (i = 0; i < nskipped_reg; i++) {
        size_t n = strlen(skipped_reg[i].name);
        const char *m = err->msg + sizeof pre - 1;
        if (!strncmp(m, skipped_reg[i].name, n) && m[n] == '.') return skipped_reg[i].why;
    }
    return NULL;
}

static pw_status load_module(const char *filename, pw_module **m, pw_error *err)
{
    char path[2048];
    size_t len;
    uint8_t *bytes;
    pw_status st;
    snprintf(path, sizeof path, "%s/%s", dir, filename);
    bytes = read_file(path, &len);
    if (!bytes) { snprintf(err->msg, sizeof err->msg, "cannot read %.100s", filename); err->status = PW_ERR_MALFORMED; return PW_ERR_ARGS; }
    st = pw_load(bytes, len, &modpool, &lim, m, err);
    free(bytes);
    return st;
}

static pw_status instantiate(const pw_module *m, pw_instance **inst, pw_error *err)
{
    pw_pool *pool;
    void *region;
    if (nregions >= MAX_INST) { snprintf(err->msg, sizeof err->msg, "too many instances"); return PW_ERR_NOMEM; }
    region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) { snprintf(err->msg, sizeof err->msg, "mmap failed"); return PW_ERR_NOMEM; }
    regions[nregions++] = region;
    pool = (pw_pool *)region;
    pw_pool_init(pool, (uint8_t *)region + 64, REGION - 64);
    return pw_instantiate(m, registry, pool, &lim, inst, err);
}

static int val_type(const char *t, uint8_t *out)
{
    if (!strcmp(t, "i32")) *out = PW_I32;
    else if (!strcmp(t, "i64")) *out = PW_I64;
    else if (!strcmp(t, "f32")) *out = PW_F32;
    else if (!strcmp(t, "f64")) *out = PW_F64;
    else return 0;
    return 1;
}

/* returns 0 if a value is not representable (reference/vector): *why set */
static int parse_values(const cJSON *arr, pw_value *out, uint32_t *n, const char **why)
{
    const cJSON *v;
    *n = 0;
    cJSON_ArrayForEach(v, arr) {
        const cJSON *t = cJSON_GetObjectItem(v, "type"), *val = cJSON_GetObjectItem(v, "value");
        uint8_t ty;
        if (*n >= 16) { *why = "too many values"; return 0; }
        if (!cJSON_IsString(t) || !val_type(t->valuestring, &ty)) {
            *why = (cJSON_IsString(t) && !strcmp(t->valuestring, "v128")) ? "simd (v128 value)" : "reference types (reference value)";
            return 0;
        }
        if (!cJSON_IsString(val)) { *why = "multi-value/odd value"; return 0; }
        out[*n].type = ty;
        out[*n].of.i64 = 0;
        if (ty == PW_I32 || ty == PW_F32) out[*n].of.i32 = (uint32_t)strtoull(val->valuestring, NULL, 10);
        else out[*n].of.i64 = strtoull(val->valuestring, NULL, 10);
        (*n)++;
    }
    return 1;
}

static pw_instance *lookup(const cJSON *action, const char **why)
{
    const cJSON *mod = cJSON_GetObjectItem(action, "module");
    int i;
    if (cJSON_IsString(mod)) {
        for (i = nnamed - 1; i >= 0; i--)
            if (!strcmp(named[i].name, mod->valuestring)) {
                if (!named[i].inst) *why = named[i].skip;
                return named[i].inst;
            }
        *why = "unknown named module";
        return NULL;
    }
    if (!current) *why = current_skip[0] ? current_skip : "no module";
    return current;
}

/* performs an action; returns status, results in res/nres */
static pw_status do_action(const cJSON *action, int line, pw_value *res, uint32_t *nres, pw_error *err, int *skipped)
{
    const cJSON *type = cJSON_GetObjectItem(action, "type"), *field = cJSON_GetObjectItem(action, "field");
    const char *why = NULL;
    pw_instance *inst = lookup(action, &why);
    *skipped = 0;
    if (!inst) { skip(line, why); *skipped = 1; return PW_ERR_ARGS; }
    if (tainted(inst)) { skip(line, tainted(inst)); *skipped = 1; return PW_ERR_ARGS; }
    if (!strcmp(type->valuestring, "invoke")) {
        pw_value args[16];
        uint32_t nargs;
        char name[512];
        size_t n = field_name(field->valuestring, name, sizeof name);
        if (!parse_values(cJSON_GetObjectItem(action, "args"), args, &nargs, &why)) { skip(line, why); *skipped = 1; return PW_ERR_ARGS; }
        return pw_call_n(inst, name, n, args, nargs, res, 16, nres, err);
    } else {
        pw_extern e;
        char name[512];
        size_t n = field_name(field->valuestring, name, sizeof name);
        if (pw_get_export_n(inst, name, n, &e) != PW_OK || e.kind != PW_EXTERN_GLOBAL) {
            snprintf(err->msg, sizeof err->msg, "no global export");
            return PW_ERR_NOT_FOUND;
        }
        res[0] = pw_global_get(e.of.global);
        *nres = 1;
        return PW_OK;
    }
}

static int value_matches(const cJSON *exp, const pw_value *got, const char **why)
{
    const cJSON *t = cJSON_GetObjectItem(exp, "type"), *val = cJSON_GetObjectItem(exp, "value");
    uint8_t ty;
    if (!cJSON_IsString(t) || !val_type(t->valuestring, &ty)) { *why = "reference types (reference result)"; return -1; }
    if (!cJSON_IsString(val)) { *why = "odd expected value"; return -1; }
    if (got->type != ty) return 0;
    if (ty == PW_F32 && !strncmp(val->valuestring, "nan:", 4)) {
        uint32_t b = got->of.f32_bits;
        if ((b & 0x7F800000u) != 0x7F800000u || !(b & 0x007FFFFFu)) return 0;
        if (!strcmp(val->valuestring, "nan:canonical")) return (b & 0x7FFFFFFFu) == 0x7FC00000u;
        return (b & 0x00400000u) != 0;
    }
    if (ty == PW_F64 && !strncmp(val->valuestring, "nan:", 4)) {
        uint64_t b = got->of.f64_bits;
        if ((b & 0x7FF0000000000000ull) != 0x7FF0000000000000ull || !(b & 0x000FFFFFFFFFFFFFull)) return 0;
        if (!strcmp(val->valuestring, "nan:canonical")) return (b & 0x7FFFFFFFFFFFFFFFull) == 0x7FF8000000000000ull;
        return (b & 0x0008000000000000ull) != 0;
    }
    if (ty == PW_I32 || ty == PW_F32) return got->of.i32 == (uint32_t)strtoull(val->valuestring, NULL, 10);
    return got->of.i64 == strtoull(val->valuestring, NULL, 10);
}

static int trap_text_ok(const char *got, const char *want)
{
    size_t a = strlen(got), b = strlen(want);
    size_t n = a < b ? a : b;
    return n > 0 && strncmp(got, want, n) == 0;
}

static void run_command(const cJSON *c)
{
    const char *type = cJSON_GetObjectItem(c, "type")->valuestring;
    int line = cJSON_GetObjectItem(c, "line") ? cJSON_GetObjectItem(c, "line")->valueint : 0;
    const cJSON *fn = cJSON_GetObjectItem(c, "filename"), *mt = cJSON_GetObjectItem(c, "module_type");
    const cJSON *action = cJSON_GetObjectItem(c, "action"), *text = cJSON_GetObjectItem(c, "text");
    pw_error err;
    pw_module *m;
    pw_instance *inst;
    pw_value res[16];
    uint32_t nres = 0;
    pw_status st;
    int skipped;
    char buf[256];
    memset(&err, 0, sizeof err);

    if (!strcmp(type, "module")) {
        const cJSON *name = cJSON_GetObjectItem(c, "name");
        current = NULL;
        current_skip[0] = 0;
        if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "text")) {
            snprintf(current_skip, sizeof current_skip, "text-format module (no text parser)");
            skip(line, current_skip);
        } else if (skip_marker(fn->valuestring, current_skip, sizeof current_skip)) {
            skip(line, current_skip);
            taint_registered(current_skip);
        } else {
            st = load_module(fn->valuestring, &m, &err);
            if (st == PW_ERR_UNSUPPORTED) {
                snprintf(current_skip, sizeof current_skip, "%s", err.msg);
                skip(line, current_skip);
                taint_registered(current_skip);
            } else if (st != PW_OK) {
                snprintf(current_skip, sizeof current_skip, "module failed to load");
                failf(line, "module load failed: %s (%s)", err.msg, pw_status_name(st));
            } else if ((st = instantiate(m, &inst, &err)) != PW_OK && skipped_import(&err)) {
                snprintf(current_skip, sizeof current_skip, "%s", skipped_import(&err));
                skip(line, current_skip);
                taint_registered(current_skip);
            } else if (st != PW_OK) {
                snprintf(current_skip, sizeof current_skip, "module failed to instantiate");
                failf(line, "instantiate failed: %s (%s)", err.msg, pw_status_name(st));
            } else {
                current = inst;
                npass++;
            }
        }
        if (cJSON_IsString(name) && nnamed < MAX_INST) {
            snprintf(named[nnamed].name, sizeof named[nnamed].name, "%s", name->valuestring);
            named[nnamed].inst = current;
            snprintf(named[nnamed].skip, sizeof named[nnamed].skip, "%s", current_skip);
            nnamed++;
        }
    } else if (!strcmp(type, "register")) {
        const char *why = NULL;
        const cJSON *as = cJSON_GetObjectItem(c, "as");
        uint32_t i;
        inst = lookup(c, &why);
        if (!inst) {
            /* record the name so importers skip rather than fail */
            if (nskipped_reg < (int)(sizeof skipped_reg / sizeof skipped_reg[0])) {
                snprintf(skipped_reg[nskipped_reg].name, sizeof skipped_reg[0].name, "%s", as->valuestring);
                snprintf(skipped_reg[nskipped_reg].why, sizeof skipped_reg[0].why, "%s", why);
                nskipped_reg++;
            }
            skip(line, why);
            return;
        }
        if (nreg_inst < (int)(sizeof reg_inst / sizeof reg_inst[0])) {
            reg_inst[nreg_inst].inst = inst;
            reg_inst[nreg_inst].taint[0] = 0;
            nreg_inst++;
        }
        for (i = 0; i < pw_export_count(inst); i++) {
            pw_extern e;
            const char *n = pw_export_at(inst, i, &e);
            pw_imports_add_extern(registry, as->valuestring, n, e);
        }
    } else if (!strcmp(type, "assert_return") || !strcmp(type, "action")) {
        st = do_action(action, line, res, &nres, &err, &skipped);
        if (skipped) return;
        if (st != PW_OK) { failf(line, "%s: %s", cJSON_GetObjectItem(action, "field")->valuestring, err.msg); return; }
        if (!strcmp(type, "assert_return")) {
            const cJSON *exp = cJSON_GetObjectItem(c, "expected"), *e;
            uint32_t k = 0;
            const char *why = NULL;
            if ((uint32_t)cJSON_GetArraySize(exp) != nres) { failf(line, "%s: wrong result count%s", cJSON_GetObjectItem(action, "field")->valuestring, NULL); return; }
            cJSON_ArrayForEach(e, exp) {
                int ok = value_matches(e, &res[k], &why);
                if (ok < 0) { skip(line, why); return; }
                if (!ok) {
                    const cJSON *ev = cJSON_GetObjectItem(e, "value");
                    snprintf(buf, sizeof buf, "got 0x%llx, expected %s", (unsigned long long)res[k].of.i64, ev->valuestring);
                    failf(line, "%s: %s", cJSON_GetObjectItem(action, "field")->valuestring, buf);
                    return;
                }
                k++;
            }
        }
        npass++;
    } else if (!strcmp(type, "assert_trap") || !strcmp(type, "assert_exhaustion")) {
        st = do_action(action, line, res, &nres, &err, &skipped);
        if (skipped) return;
        if (st != PW_ERR_TRAP) { failf(line, "expected trap \"%s\", got %s", text->valuestring, st == PW_OK ? "a result" : err.msg); return; }
        if (!trap_text_ok(err.msg, text->valuestring)) { failf(line, "trap text \"%s\", expected \"%s\"", err.msg, text->valuestring); return; }
        npass++;
    } else if (!strcmp(type, "assert_invalid") || !strcmp(type, "assert_malformed")) {
        if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "text")) { skip(line, "text-format module (no text parser)"); return; }
        st = load_module(fn->valuestring, &m, &err);
        if (st == PW_OK) { failf(line, "%s module was accepted (expected \"%s\")", type, text->valuestring); return; }
        npass++;
    } else if (!strcmp(type, "assert_unlinkable") || !strcmp(type, "assert_uninstantiable")) {
        if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "text")) { skip(line, "text-format module (no text parser)"); return; }
        if (skip_marker(fn->valuestring, buf, sizeof buf)) { skip(line, buf); taint_registered(buf); return; }
        st = load_module(fn->valuestring, &m, &err);
        if (st == PW_ERR_UNSUPPORTED) { skip(line, err.msg); taint_registered(err.msg); return; }
        if (st != PW_OK) { failf(line, "load failed: %s%s", err.msg, NULL); return; }
        st = instantiate(m, &inst, &err);
        if (st != PW_OK && skipped_import(&err)) { skip(line, skipped_import(&err)); taint_registered(skipped_import(&err)); return; }
        if (st == PW_OK) { failf(line, "%s: instantiation succeeded (expected \"%s\")", type, text->valuestring); return; }
        if (!strcmp(type, "assert_uninstantiable") && st != PW_ERR_TRAP) { failf(line, "expected a trap, got: %s%s", err.msg, NULL); return; }
        npass++;
    } else {
        snprintf(buf, sizeof buf, "command %s not supported by the runner", type);
        skip(line, buf);
    }
}

/* X.dropped beside X.json lists the commands the pre-pass removed because
 * wast2json cannot parse them (post-MVP syntax): "line<TAB>reason" each. */
static void read_dropped(const char *json_path)
{
    char path[2048], line[512];
    size_t n = strlen(json_path);
    FILE *f;
    if (n < 5 || strcmp(json_path + n - 5, ".json")) return;
    snprintf(path, sizeof path, "%.*s.dropped", (int)(n - 5), json_path);
    f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!tab) continue;
        skip(atoi(line), tab + 1);
    }
    fclose(f);
}

static void reset_file(void)
{
    int i;
    for (i = 0; i < nregions; i++) munmap(regions[i], REGION);
    nregions = 0;
    nnamed = 0;
    nskipped_reg = 0;
    nreg_inst = 0;
    current = NULL;
    current_skip[0] = 0;
    pw_pool_init(&modpool, modbuf, 256u << 20);
    pw_pool_init(&regpool, regbuf, 16u << 20);
    registry = pw_imports_new(&regpool);
    add_spectest();
}

int main(int argc, char **argv)
{
    int i, tp = 0, tf = 0, ts = 0, files_failed = 0;
    lim = pw_default_limits();
    lim.max_pages = 16384;
    lim.stack_slots = 1u << 20;
    lim.max_frames = 20000;
    lim.max_table_size = 1u << 20;
    modbuf = malloc(256u << 20);
    regbuf = malloc(16u << 20);
    hostbuf = malloc(4u << 20);
    if (!modbuf || !regbuf || !hostbuf) return 2;
    for (i = 1; i < argc; i++) {
        size_t len;
        char *json, *slash;
        cJSON *root, *cmds, *c;
        int k;
        if (!strcmp(argv[i], "-v")) { verbose = 1; continue; }
        json = (char *)read_file(argv[i], &len);
        if (!json) { printf("%s: cannot read\n", argv[i]); files_failed++; continue; }
        mark_nul_escapes(json);
        root = cJSON_Parse(json);
        free(json);
        if (!root) { printf("%s: bad JSON\n", argv[i]); files_failed++; continue; }
        snprintf(dir, sizeof dir, "%s", argv[i]);
        slash = strrchr(dir, '/');
        if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
        curfile = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        npass = nfail = nskip = 0;
        nreasons = 0;
        reset_file();
        cmds = cJSON_GetObjectItem(root, "commands");
        cJSON_ArrayForEach(c, cmds) run_command(c);
        read_dropped(argv[i]);
        printf("%-28s pass %5d  fail %4d  skip %4d\n", curfile, npass, nfail, nskip);
        for (k = 0; k < nreasons; k++) printf("    skipped %4d: %s\n", reasons[k].count, reasons[k].text);
        tp += npass; tf += nfail; ts += nskip;
        cJSON_Delete(root);
    }
    reset_file();
    printf("TOTAL pass %d fail %d skip %d%s\n", tp, tf, ts, files_failed ? " (some files unreadable)" : "");
    return (tf || files_failed) ? 1 : 0;
}
