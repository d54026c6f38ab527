/*
 * pwasm.h - the narrow engine interface of the Propeller firmware.
 *
 * Life cycle:  pw_load (decode + validate + translate, once)
 *           -> pw_instantiate (N times from one loaded module)
 *           -> pw_call (export name + args -> results, or a trap as a value).
 *
 * Every byte the engine uses comes from a caller-given pw_pool (a bump arena
 * over a caller buffer); the engine never calls malloc. Errors and traps are
 * returned as values (pw_status + pw_error), never abort/exit/assert.
 *
 * Another engine can be put behind this header without touching callers:
 * callers only see opaque handles, pw_value, pw_error, pw_limits and the
 * WAMR-style host signature strings ("(ii)i": i=i32 I=i64 f=f32 F=f64).
 */
#ifndef PWASM_H
#define PWASM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PW_OK = 0,
    PW_ERR_MALFORMED,   /* binary decoding failed */
    PW_ERR_INVALID,     /* validation failed (type checking etc.) */
    PW_ERR_UNSUPPORTED, /* a post-MVP feature, named in the message */
    PW_ERR_NOMEM,       /* the pool is exhausted */
    PW_ERR_LIMIT,       /* an engine limit (pages cap, locals, table size) */
    PW_ERR_LINK,        /* unknown import / incompatible import type */
    PW_ERR_TRAP,        /* a Wasm trap; see pw_error.trap */
    PW_ERR_NOT_FOUND,   /* no such export */
    PW_ERR_ARGS,        /* wrong argument count/types for pw_call */
    PW_ERR_BUSY         /* re-entrant call into a running instance */
} pw_status;

typedef enum {
    PW_TRAP_NONE = 0,
    PW_TRAP_UNREACHABLE,
    PW_TRAP_MEMORY_OOB,
    PW_TRAP_DIV_ZERO,
    PW_TRAP_INT_OVERFLOW,
    PW_TRAP_INVALID_CONVERSION,
    PW_TRAP_UNDEFINED_ELEMENT,
    PW_TRAP_UNINITIALIZED_ELEMENT,
    PW_TRAP_INDIRECT_TYPE_MISMATCH,
    PW_TRAP_STACK_EXHAUSTED,
    PW_TRAP_FUEL_EXHAUSTED,
    PW_TRAP_HOST
} pw_trap;

typedef struct {
    pw_status status;
    pw_trap trap;
    uint32_t offset;  /* byte offset in the module for load errors */
    char msg[128];
} pw_error;

/* Value types (the Wasm binary encodings). */
typedef enum { PW_I32 = 0x7F, PW_I64 = 0x7E, PW_F32 = 0x7D, PW_F64 = 0x7C } pw_valtype;

/* Floats are carried as raw bits so NaN payloads survive unchanged. */
typedef struct {
    uint8_t type; /* pw_valtype */
    union {
        uint32_t i32;
        uint64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
    } of;
} pw_value;

/* ---- pool ---------------------------------------------------------------- */
typedef struct {
    uint8_t *base;
    size_t size;
    size_t used;
} pw_pool;

void pw_pool_init(pw_pool *pool, void *buf, size_t size);
/* 16-byte aligned allocation; NULL when exhausted. */
void *pw_pool_alloc(pw_pool *pool, size_t n);

/* ---- limits -------------------------------------------------------------- */
typedef struct {
    uint32_t max_pages;      /* memory cap per instance (64 KiB pages) */
    uint32_t stack_slots;    /* value stack (locals + operands), 8 bytes each */
    uint32_t max_frames;     /* call depth */
    uint32_t max_table_size; /* elements */
    uint32_t max_locals;     /* per function, params included */
} pw_limits;

/* Sensible defaults: 16 pages, 16K slots, 512 frames, 4096 elements. */
pw_limits pw_default_limits(void);

/* ---- opaque handles ------------------------------------------------------ */
typedef struct pw_module pw_module;
typedef struct pw_instance pw_instance;
typedef struct pw_func pw_func;
typedef struct pw_memory pw_memory;
typedef struct pw_table pw_table;
typedef struct pw_global pw_global;
typedef struct pw_imports pw_imports;

typedef enum { PW_EXTERN_FUNC = 0, PW_EXTERN_TABLE, PW_EXTERN_MEMORY, PW_EXTERN_GLOBAL } pw_extern_kind;

typedef struct {
    pw_extern_kind kind;
    union {
        pw_func *func;
        pw_table *table;
        pw_memory *memory;
        pw_global *global;
    } of;
} pw_extern;

/* ---- load ---------------------------------------------------------------- */
/* Decodes, validates and translates the module. The bytes are not kept.
 * Everything is allocated from `pool`, which must outlive the module. */
pw_status pw_load(const uint8_t *bytes, size_t len, pw_pool *pool,
                  const pw_limits *limits, pw_module **out, pw_error *err);

/* ---- host imports -------------------------------------------------------- */
/* A host function gets the calling instance (for its memory), its user
 * pointer, the arguments and room for the results. Return PW_TRAP_NONE, or a
 * trap (message optional via pw_host_trap_message). */
typedef pw_trap (*pw_host_fn)(pw_instance *caller, void *user,
                              const pw_value *args, pw_value *results);

pw_imports *pw_imports_new(pw_pool *pool);
/* signature: "(params)results", e.g. "(ii)i", "()" or "(F)" */
pw_status pw_imports_add_func(pw_imports *imp, const char *module, const char *name,
                              const char *signature, pw_host_fn fn, void *user);
pw_status pw_imports_add_extern(pw_imports *imp, const char *module, const char *name,
                                pw_extern ext);

/* Stand-alone host objects (e.g. the spectest memory), allocated from pool.
 * A memory grows in place, so it must be the last allocation in its pool. */
pw_memory *pw_memory_new(pw_pool *pool, uint32_t min_pages, uint32_t max_pages, int has_max);
pw_table *pw_table_new(pw_pool *pool, uint32_t min, uint32_t max, int has_max);
pw_global *pw_global_new(pw_pool *pool, pw_value value, int mutable_);

/* ---- instantiate --------------------------------------------------------- */
/* The instance's pool should be dedicated to it: its memory (if defined) is
 * allocated last and grows in place. Runs data/elem initialisation and the
 * start function; a trap there is returned as PW_ERR_TRAP. */
pw_status pw_instantiate(const pw_module *mod, const pw_imports *imports, pw_pool *pool,
                         const pw_limits *limits, pw_instance **out, pw_error *err);

/* Fuel: instructions the instance may still execute (all calls entered
 * through it). Default: unlimited (UINT64_MAX). */
void pw_set_fuel(pw_instance *inst, uint64_t fuel);
uint64_t pw_get_fuel(const pw_instance *inst);

/* ---- call ---------------------------------------------------------------- */
pw_status pw_call(pw_instance *inst, const char *export_name, const pw_value *args,
                  uint32_t nargs, pw_value *results, uint32_t max_results,
                  uint32_t *nresults, pw_error *err);

/* The _n forms take the name's length: Wasm names may contain NUL bytes. */
pw_status pw_call_n(pw_instance *inst, const char *export_name, size_t name_len, const pw_value *args,
                    uint32_t nargs, pw_value *results, uint32_t max_results, uint32_t *nresults,
                    pw_error *err);

pw_status pw_get_export(const pw_instance *inst, const char *name, pw_extern *out);
pw_status pw_get_export_n(const pw_instance *inst, const char *name, size_t name_len, pw_extern *out);
/* A function's parameter and result types (pw_valtype), at most cap of each. */
pw_status pw_func_signature(const pw_func *f, uint8_t *params, uint32_t *np, uint8_t *results, uint32_t *nr,
                            uint32_t cap);
uint32_t pw_export_count(const pw_instance *inst);
const char *pw_export_at(const pw_instance *inst, uint32_t i, pw_extern *out);

/* Values and memory seen from the host. */
pw_value pw_global_get(const pw_global *g);
uint8_t *pw_memory_data(pw_memory *m, uint32_t *size_bytes);
pw_memory *pw_instance_memory(pw_instance *inst);

const char *pw_status_name(pw_status s);
const char *pw_trap_message(pw_trap t);

#ifdef __cplusplus
}
#endif
#endif
