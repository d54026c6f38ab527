/* libFuzzer target: the Wasm loader (decode + validate + translate), then instantiation and a
 * call of every exported function that takes no arguments, under fuel and small caps. Any
 * crash, leak, hang or sanitizer report is a bug; every outcome must be a status value. */
#include "pwasm.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t modbuf[1 << 20], instbuf[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_pool mp, ip;
    pw_module *m;
    pw_instance *inst;
    pw_imports *imp;
    pw_error err;
    pw_limits lim = pw_default_limits();
    uint32_t i;
    lim.max_pages = 4;
    lim.stack_slots = 2048;
    lim.max_frames = 64;
    lim.max_table_size = 256;
    pw_pool_init(&mp, modbuf, sizeof modbuf);
    if (pw_load(data, size, &mp, &lim, &m, &err) != PW_OK) return 0;
    pw_pool_init(&ip, instbuf, sizeof instbuf);
    imp = pw_imports_new(&ip);
    if (!imp || pw_instantiate(m, imp, &ip, &lim, &inst, &err) != PW_OK) return 0;
    for (i = 0; i < pw_export_count(inst) && i < 16; i++) {
        pw_extern e;
        const char *name = pw_export_at(inst, i, &e);
        uint8_t pt[8], rt[8];
        uint32_t np, nr, nres;
        pw_value res[8];
        if (e.kind != PW_EXTERN_FUNC || pw_func_signature(e.of.func, pt, &np, rt, &nr, 8) != PW_OK || np) continue;
        pw_set_fuel(inst, 20000);
        (void)pw_call(inst, name, NULL, 0, res, 8, &nres, &err);
    }
    return 0;
}
