/* Internal structures of the pwasm engine (not part of the interface). */
#ifndef PW_INTERNAL_H
#define PW_INTERNAL_H

#include "pwasm.h"
#include <string.h>

#define PW_PAGE 65536u
#define PW_MAX_PAGES 65536u
#define PW_NONE 0xFFFFFFFFu

typedef struct {
    uint32_t np, nr;
    uint8_t *t; /* np param types, then nr result types */
} pw_functype;

/* A translated function body. code[] is the internal code: one opcode word
 * followed by its immediates; every branch carries its resolved target. */
typedef struct {
    uint32_t *code;
    uint32_t ncode;
    uint32_t nlocals;    /* params included */
    uint32_t max_height; /* nlocals + deepest operand stack, in slots */
    uint32_t typeidx;
} pw_code;

struct pw_func {
    const pw_functype *type;
    pw_instance *inst; /* NULL for a host function */
    const pw_code *code;
    pw_host_fn host;
    void *user;
};

struct pw_memory {
    uint8_t *data;
    uint32_t pages, max;
    int has_max;
    pw_pool *pool; /* grows in place at the pool's top */
};

struct pw_table {
    pw_func **elems;
    uint32_t size, max;
    int has_max;
};

struct pw_global {
    uint8_t type, mut;
    uint64_t val;
};

typedef struct {
    uint8_t kind;   /* 0 constant, 1 global.get */
    uint8_t type;
    uint64_t val;   /* constant bits or global index */
} pw_constexpr;

typedef struct {
    char *module, *name;
    uint32_t mlen, nlen;
    uint8_t kind; /* pw_extern_kind */
    uint32_t typeidx;               /* func */
    uint32_t min, max; int has_max; /* table / memory */
    uint8_t gtype, gmut;            /* global */
} pw_import;

typedef struct {
    char *name;
    uint32_t len;
    uint8_t kind;
    uint32_t idx;
} pw_export;

typedef struct {
    pw_constexpr offset;
    uint32_t n;
    uint32_t *funcs;
} pw_elem;

typedef struct {
    pw_constexpr offset;
    uint32_t len;
    uint8_t *bytes;
} pw_data;

typedef struct {
    uint8_t type, mut;
    pw_constexpr init;
} pw_globaldef;

struct pw_module {
    uint32_t ntypes;
    pw_functype *types;
    uint32_t nimports;
    pw_import *imports;
    uint32_t nfuncs, nfunc_imports;
    uint32_t *func_type; /* per function index */
    pw_code *codes;      /* per defined function */
    int has_table, table_imported, table_has_max;
    uint32_t table_min, table_max;
    int has_memory, memory_imported, memory_has_max;
    uint32_t memory_min, memory_max;
    uint32_t nglobals, nglobal_imports;
    pw_globaldef *globals;
    uint32_t nexports;
    pw_export *exports;
    int has_start;
    uint32_t start;
    uint32_t nelems;
    pw_elem *elems;
    uint32_t ndatas;
    pw_data *datas;
};

struct pw_imports_entry {
    struct pw_imports_entry *next;
    char *module, *name;
    uint32_t mlen, nlen;
    pw_extern ext;
};

struct pw_imports {
    pw_pool *pool;
    struct pw_imports_entry *head;
};

typedef struct {
    const pw_func *func;
    const uint32_t *ret_pc;
    uint64_t *fp;
    pw_instance *inst;
} pw_frame;

struct pw_instance {
    const pw_module *mod;
    pw_func **funcs;
    pw_func *own_funcs;
    pw_table *table;
    pw_memory *memory;
    pw_global **globals;
    uint64_t *stack, *stack_end;
    pw_frame *frames;
    uint32_t max_frames;
    uint64_t fuel;
    int running;
    pw_limits limits;
};

/* internal code opcodes beyond the Wasm single-byte ones */
enum {
    OP_JMP = 0x05,          /* [target] (else) */
    OP_TRUNC_SAT = 0xE0,    /* 0xE0 + 0xFC subopcode 0..7 */
    OP_SELECT = 0x1B
};

int pw_fail(pw_error *err, pw_status st, uint32_t off, const char *fmt, ...);
void *pw_pool_zalloc(pw_pool *pool, size_t n);
int pw_functype_eq(const pw_functype *a, const pw_functype *b);

#endif
