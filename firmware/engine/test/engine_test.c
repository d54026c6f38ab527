/* Unit tests of the pwasm engine interface: load once / instantiate N,
 * export calls, host imports, fuel, the memory cap, pool exhaustion and
 * malformed binaries. Exit status 1 on any failure. */
#include "pwasm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) { failures++; printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

/* (module
 *   (type $ii_i (func (param i32 i32) (result i32)))  (type $v (func))
 *   (type $i_i (func (param i32) (result i32)))       (type $ii (func (param i32 i32)))
 *   (import "env" "add1" (func (type $i_i)))
 *   (memory 1 2)
 *   (func (export "add") (type $ii_i) local.get 0 local.get 1 i32.add)
 *   (func (export "spin") (type $v) loop br 0 end)
 *   (func (export "grow") (type $i_i) local.get 0 memory.grow)
 *   (func (export "host") (type $i_i) local.get 0 call 0)
 *   (func (export "store") (type $ii) local.get 0 local.get 1 i32.store)
 *   (func (export "load") (type $i_i) local.get 0 i32.load)) */
static const uint8_t MOD[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    /* type */ 0x01, 0x14, 0x04, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f,
    0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00,
    /* import */ 0x02, 0x0c, 0x01, 0x03, 'e', 'n', 'v', 0x04, 'a', 'd', 'd', '1', 0x00, 0x02,
    /* func */ 0x03, 0x07, 0x06, 0x00, 0x01, 0x02, 0x02, 0x03, 0x02,
    /* memory */ 0x05, 0x04, 0x01, 0x01, 0x01, 0x02,
    /* export */ 0x07, 0x2b, 0x06, 0x03, 'a', 'd', 'd', 0x00, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x02,
    0x04, 'g', 'r', 'o', 'w', 0x00, 0x03, 0x04, 'h', 'o', 's', 't', 0x00, 0x04, 0x05, 's', 't', 'o', 'r',
    'e', 0x00, 0x05, 0x04, 'l', 'o', 'a', 'd', 0x00, 0x06,
    /* code */ 0x0a, 0x31, 0x06,
    0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
    0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
    0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b,
    0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b,
    0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00, 0x0b,
    0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b};
/* prefixes of MOD that are complete modules: header, + type, + import */
static const size_t VALID_PREFIX[] = {8, 30, 44};

static int host_calls;
static pw_trap add1(pw_instance *c, void *user, const pw_value *a, pw_value *r)
{
    (void)c;
    host_calls++;
    if (user && a[0].of.i32 == 13) return PW_TRAP_HOST; /* the host refuses 13 */
    r[0].type = PW_I32;
    r[0].of.i64 = 0;
    r[0].of.i32 = a[0].of.i32 + 1;
    return PW_TRAP_NONE;
}

static pw_value i32(uint32_t v)
{
    pw_value x;
    x.type = PW_I32;
    x.of.i64 = 0;
    x.of.i32 = v;
    return x;
}

#define NINST 8
/* small stacks so that an instance fits a 160 KiB pool with its page */
static pw_limits tl;
#define INST_POOL (160u * 1024u)
static uint8_t modbuf[64 * 1024], impbuf[4096], instbuf[NINST][INST_POOL];

static pw_status call1(pw_instance *in, const char *name, pw_value *args, uint32_t n, uint32_t *out, pw_error *err)
{
    pw_value res[1];
    uint32_t nres = 0;
    pw_status st = pw_call(in, name, args, n, res, 1, &nres, err);
    if (st == PW_OK && out) *out = nres ? res[0].of.i32 : 0;
    return st;
}

static void setup(pw_pool *mp, pw_module **m, pw_pool *ip, pw_imports **imp, int refuse13)
{
    pw_error err;
    pw_pool_init(mp, modbuf, sizeof modbuf);
    CHECK(pw_load(MOD, sizeof MOD, mp, NULL, m, &err) == PW_OK);
    pw_pool_init(ip, impbuf, sizeof impbuf);
    *imp = pw_imports_new(ip);
    CHECK(*imp && pw_imports_add_func(*imp, "env", "add1", "(i)i", add1, refuse13 ? (void *)1 : NULL) == PW_OK);
}

static void test_instances_from_one_module(void)
{
    pw_pool mp, ip, pools[NINST];
    pw_module *m = NULL;
    pw_imports *imp;
    pw_instance *in[NINST];
    pw_error err;
    pw_value a[2];
    uint32_t r = 0;
    int k;
    printf("load once, instantiate %d, call export, instances do not share memory\n", NINST);
    setup(&mp, &m, &ip, &imp, 0);
    if (!m) return;
    for (k = 0; k < NINST; k++) {
        pw_pool_init(&pools[k], instbuf[k], INST_POOL);
        CHECK(pw_instantiate(m, imp, &pools[k], &tl, &in[k], &err) == PW_OK);
    }
    for (k = 0; k < NINST; k++) {
        a[0] = i32(40);
        a[1] = i32((uint32_t)k);
        CHECK(call1(in[k], "add", a, 2, &r, &err) == PW_OK && r == 40u + (uint32_t)k);
    }
    a[0] = i32(0x20);
    a[1] = i32(0xdeadbeef);
    CHECK(call1(in[0], "store", a, 2, NULL, &err) == PW_OK);
    CHECK(call1(in[0], "load", a, 1, &r, &err) == PW_OK && r == 0xdeadbeef);
    CHECK(call1(in[1], "load", a, 1, &r, &err) == PW_OK && r == 0);
    /* an out-of-bounds load is a trap value, and the instance keeps working */
    a[0] = i32(65534);
    CHECK(call1(in[1], "load", a, 1, &r, &err) == PW_ERR_TRAP && err.trap == PW_TRAP_MEMORY_OOB);
    a[0] = i32(1);
    a[1] = i32(2);
    CHECK(call1(in[1], "add", a, 2, &r, &err) == PW_OK && r == 3);
    /* wrong calls are errors, not crashes */
    CHECK(call1(in[0], "nope", a, 2, &r, &err) == PW_ERR_NOT_FOUND);
    CHECK(call1(in[0], "add", a, 1, &r, &err) == PW_ERR_ARGS);
    a[1].type = PW_I64;
    CHECK(call1(in[0], "add", a, 2, &r, &err) == PW_ERR_ARGS);
}

static void test_host_import(void)
{
    pw_pool mp, ip, p;
    pw_module *m = NULL;
    pw_imports *imp;
    pw_instance *in;
    pw_error err;
    pw_value a[1];
    uint32_t r = 0;
    printf("host import: called with the argument, a host trap is a trap value\n");
    setup(&mp, &m, &ip, &imp, 1);
    if (!m) return;
    pw_pool_init(&p, instbuf[0], INST_POOL);
    CHECK(pw_instantiate(m, imp, &p, &tl, &in, &err) == PW_OK);
    host_calls = 0;
    a[0] = i32(41);
    CHECK(call1(in, "host", a, 1, &r, &err) == PW_OK && r == 42 && host_calls == 1);
    a[0] = i32(13);
    CHECK(call1(in, "host", a, 1, &r, &err) == PW_ERR_TRAP && err.trap == PW_TRAP_HOST);
    /* no import given: a link error naming it */
    {
        pw_imports *none = pw_imports_new(&ip);
        pw_pool_init(&p, instbuf[1], INST_POOL);
        CHECK(pw_instantiate(m, none, &p, &tl, &in, &err) == PW_ERR_LINK && strstr(err.msg, "add1") != NULL);
    }
    /* a host function of the wrong signature is refused at link time */
    {
        pw_imports *bad = pw_imports_new(&ip);
        pw_imports_add_func(bad, "env", "add1", "(I)i", add1, NULL);
        pw_pool_init(&p, instbuf[1], INST_POOL);
        CHECK(pw_instantiate(m, bad, &p, &tl, &in, &err) == PW_ERR_LINK);
    }
}

static void test_fuel(void)
{
    pw_pool mp, ip, p;
    pw_module *m = NULL;
    pw_imports *imp;
    pw_instance *in;
    pw_error err;
    pw_value a[2];
    uint32_t r = 0;
    printf("fuel stops a runaway loop; the instance can be refuelled\n");
    setup(&mp, &m, &ip, &imp, 0);
    if (!m) return;
    pw_pool_init(&p, instbuf[0], INST_POOL);
    CHECK(pw_instantiate(m, imp, &p, &tl, &in, &err) == PW_OK);
    CHECK(pw_get_fuel(in) == UINT64_MAX);
    pw_set_fuel(in, 100000);
    CHECK(call1(in, "spin", NULL, 0, NULL, &err) == PW_ERR_TRAP && err.trap == PW_TRAP_FUEL_EXHAUSTED);
    CHECK(pw_get_fuel(in) == 0);
    a[0] = i32(2);
    a[1] = i32(3);
    CHECK(call1(in, "add", a, 2, &r, &err) == PW_ERR_TRAP && err.trap == PW_TRAP_FUEL_EXHAUSTED);
    pw_set_fuel(in, 100);
    CHECK(call1(in, "add", a, 2, &r, &err) == PW_OK && r == 5);
    CHECK(pw_get_fuel(in) < 100);
}

static void test_memory_cap(void)
{
    pw_pool mp, ip, p;
    pw_module *m = NULL;
    pw_imports *imp;
    pw_instance *in;
    pw_error err;
    pw_value a[1];
    pw_limits lim = tl;
    uint32_t r = 0;
    printf("memory cap refuses growth beyond it; the module maximum still applies\n");
    setup(&mp, &m, &ip, &imp, 0);
    if (!m) return;
    lim.max_pages = 1;
    pw_pool_init(&p, instbuf[0], INST_POOL);
    CHECK(pw_instantiate(m, imp, &p, &lim, &in, &err) == PW_OK);
    a[0] = i32(1);
    CHECK(call1(in, "grow", a, 1, &r, &err) == PW_OK && r == 0xFFFFFFFFu);
    lim.max_pages = 16;
    pw_pool_init(&p, instbuf[1], INST_POOL);
    CHECK(pw_instantiate(m, imp, &p, &lim, &in, &err) == PW_OK);
    CHECK(call1(in, "grow", a, 1, &r, &err) == PW_OK && r == 1);
    CHECK(call1(in, "grow", a, 1, &r, &err) == PW_OK && r == 0xFFFFFFFFu); /* (memory 1 2) */
    /* a module whose minimum exceeds the cap does not instantiate */
    lim.max_pages = 0;
    pw_pool_init(&p, instbuf[1], INST_POOL);
    CHECK(pw_instantiate(m, imp, &p, &lim, &in, &err) != PW_OK);
    /* growth needs room in the pool too: a pool with one page of room refuses */
    lim.max_pages = 16;
    pw_pool_init(&p, instbuf[2], 80u * 1024u);
    CHECK(pw_instantiate(m, imp, &p, &lim, &in, &err) == PW_OK);
    CHECK(call1(in, "grow", a, 1, &r, &err) == PW_OK && r == 0xFFFFFFFFu);
}

static void test_pool_exhaustion(void)
{
    static uint8_t small[2048];
    pw_pool mp, ip, p;
    pw_module *m = NULL;
    pw_imports *imp;
    pw_instance *in = NULL;
    pw_error err;
    size_t sz;
    int nomem = 0, ok = 0;
    printf("pool exhaustion is an error value at every pool size\n");
    for (sz = 0; sz <= sizeof small; sz += 16) {
        pw_module *mm = NULL;
        pw_pool_init(&p, small, sz);
        pw_status st = pw_load(MOD, sizeof MOD, &p, NULL, &mm, &err);
        if (st == PW_ERR_NOMEM) nomem++;
        else if (st == PW_OK) ok++;
        else CHECK(st == PW_ERR_NOMEM || st == PW_OK);
    }
    CHECK(nomem > 0 && ok > 0); /* small pools refuse, a big enough one loads */
    setup(&mp, &m, &ip, &imp, 0);
    if (!m) return;
    nomem = 0;
    for (sz = 0; sz < 64 * 1024; sz += 512) {
        pw_pool_init(&p, instbuf[0], sz);
        if (pw_instantiate(m, imp, &p, &tl, &in, &err) == PW_ERR_NOMEM) nomem++;
    }
    CHECK(nomem == 128); /* one page of memory never fits below 64 KiB */
}

static void test_malformed(void)
{
    static uint8_t buf[sizeof MOD];
    pw_pool p;
    pw_module *m;
    pw_error err;
    size_t n, i;
    int refused = 0, expected = 0;
    printf("malformed binaries are refused: every truncation, bad magic/version, byte flips\n");
    for (n = 0; n < sizeof MOD; n++) {
        int valid = 0;
        for (i = 0; i < sizeof VALID_PREFIX / sizeof VALID_PREFIX[0]; i++) valid |= n == VALID_PREFIX[i];
        pw_pool_init(&p, modbuf, sizeof modbuf);
        if (valid) { CHECK(pw_load(MOD, n, &p, NULL, &m, &err) == PW_OK); continue; }
        expected++;
        if (pw_load(MOD, n, &p, NULL, &m, &err) != PW_OK) refused++;
        else printf("  prefix %zu accepted\n", n);
    }
    CHECK(refused == expected);
    memcpy(buf, MOD, sizeof MOD);
    buf[1] = 'x';
    pw_pool_init(&p, modbuf, sizeof modbuf);
    CHECK(pw_load(buf, sizeof buf, &p, NULL, &m, &err) == PW_ERR_MALFORMED);
    memcpy(buf, MOD, sizeof MOD);
    buf[4] = 2;
    pw_pool_init(&p, modbuf, sizeof modbuf);
    CHECK(pw_load(buf, sizeof buf, &p, NULL, &m, &err) == PW_ERR_MALFORMED);
    /* trailing garbage */
    {
        static uint8_t longer[sizeof MOD + 1];
        memcpy(longer, MOD, sizeof MOD);
        longer[sizeof MOD] = 0x0b;
        pw_pool_init(&p, modbuf, sizeof modbuf);
        CHECK(pw_load(longer, sizeof longer, &p, NULL, &m, &err) != PW_OK);
    }
    /* every single-byte change either loads or is refused with a status and a message */
    for (i = 0; i < sizeof MOD; i++) {
        static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0b, 0x40};
        size_t v;
        for (v = 0; v < sizeof vals; v++) {
            pw_status st;
            memcpy(buf, MOD, sizeof MOD);
            if (buf[i] == vals[v]) continue;
            buf[i] = vals[v];
            pw_pool_init(&p, modbuf, sizeof modbuf);
            st = pw_load(buf, sizeof buf, &p, NULL, &m, &err);
            CHECK(st == PW_OK || (st != PW_ERR_TRAP && err.msg[0] != 0));
        }
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    tl = pw_default_limits();
    tl.stack_slots = 1024;
    tl.max_frames = 64;
    test_instances_from_one_module();
    test_host_import();
    test_fuel();
    test_memory_cap();
    test_pool_exhaustion();
    test_malformed();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
