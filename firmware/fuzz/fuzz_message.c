/* libFuzzer target: the proplet core's inbound path (topic routing, bounded JSON parsing,
 * envelope and schema checks, the lease, chunk assembly) over a port that records nothing.
 * The first byte picks the topic; the rest is the payload. A crash, leak or sanitizer report
 * is a bug: bad input must be refused with a log line. */
#include "pp_core.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pp_proplet *prop;
static uint8_t *slots;
static uint64_t mono = 1000, rng = 88172645463325252ull;

static int64_t wall(void *c) { (void)c; return 1700000000000LL; }
static uint64_t now(void *c) { (void)c; return mono += 10; }
static int rnd(void *c, uint8_t *o, size_t n)
{
    (void)c;
    while (n--) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; *o++ = (uint8_t)rng; }
    return 0;
}
static int pub(void *c, const char *t, const uint8_t *p, size_t n) { (void)c; (void)t; (void)p; (void)n; return 0; }
static int sub(void *c, const char *t) { (void)c; (void)t; return 0; }
static void lg(void *c, int l, const char *m) { (void)c; (void)l; (void)m; }

static const char *const topics[] = {
    "propeller/v1/proplets/f1/tasks/start", "propeller/v1/proplets/f1/tasks/stop",
    "propeller/v1/proplets/f1/tasks/result-ack", "propeller/v1/proplets/f1/control",
    "propeller/v1/proplets/f1/artifacts/chunk", "propeller/v1/manager/online",
    "propeller/v1/proplets/f2/tasks/start", "elsewhere"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!prop) {
        static pp_port port = {NULL, wall, now, rnd, pub, sub, NULL, NULL, lg};
        pp_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.id = "f1";
        cfg.name = "fuzz";
        cfg.slots = 2;
        cfg.slot_bytes = 256 * 1024;
        cfg.artifact_max = 64 * 1024;
        cfg.heartbeat_ms = 1000;
        prop = malloc(pp_size());
        slots = malloc(2 * cfg.slot_bytes);
        if (pp_init(prop, &cfg, &port, slots, 2 * cfg.slot_bytes) != 0) abort();
        pp_on_connect(prop);
    }
    if (size < 1) return 0;
    pp_on_message(prop, topics[data[0] % 8], data + 1, size - 1);
    pp_tick(prop);
    return 0;
}
