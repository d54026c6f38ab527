/* propeller-proplet-c: the C proplet on a POSIX host. Everything but the platform lives in
 * firmware/core; this file is the port: libmosquitto (MQTT 3.1.1, QoS 1, last will, optional
 * TLS with a client certificate), clocks, getrandom(), the identity key in a file, JSON log lines
 * on stderr, configuration from the environment (the TypeScript proplet's names where they
 * exist):
 *   PROPELLER_MQTT_URL        mqtt://host:port or mqtts://host:port (default mqtt://127.0.0.1:1883)
 *   PROPELLER_MQTT_CA_FILE, PROPELLER_MQTT_CERT_FILE, PROPELLER_MQTT_KEY_FILE   TLS (mqtts)
 *   PROPELLER_PROPLET_ID      required; PROPELLER_PROPLET_NAME (default: the id)
 *   PROPELLER_TOPIC_ROOT      default propeller/v1
 *   PROPELLER_IDENTITY_FILE   the identity key (made on first start; default ./<id>.key)
 *   PROPELLER_PROPLET_SLOTS (default 2), PROPELLER_SLOT_BYTES (default 1 MiB),
 *   PROPELLER_ARTIFACT_MAX_BYTES (default 256 KiB), PROPELLER_HEARTBEAT_MS (default 5000),
 *   PROPELLER_RESULT_RESEND_MS (default 2000), PROPELLER_FUEL_PER_MS (default 20000),
 *   PROPELLER_LOG_LEVEL (debug|info|warn|error, default info), PROPELLER_PROPLET_TAGS (comma list)
 */
#define _GNU_SOURCE
#include "pp_core.h"
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct mosquitto *mosq;
static pp_proplet *prop;
static const char *key_path;
static int min_level = PP_LOG_INFO;
static volatile sig_atomic_t stop_requested;

static void log_line(int level, const char *msg)
{
    static const int pino[] = {20, 30, 40, 50};
    struct timespec ts;
    const char *c;
    if (level < min_level) return;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(stderr, "{\"level\":%d,\"time\":%lld,\"name\":\"propeller-proplet-c\",\"msg\":\"", pino[level & 3],
            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    for (c = msg; *c; c++) {
        if (*c == '"' || *c == '\\') fputc('\\', stderr);
        if ((unsigned char)*c < 0x20) fputc(' ', stderr);
        else fputc(*c, stderr);
    }
    fputs("\"}\n", stderr);
}

static int64_t wall_ms(void *c)
{
    struct timespec ts;
    (void)c;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void *c)
{
    struct timespec ts;
    (void)c;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int rnd(void *c, uint8_t *out, size_t n)
{
    size_t got = 0;
    (void)c;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            log_line(PP_LOG_ERROR, "getrandom failed");
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static int publish(void *c, const char *topic, const uint8_t *payload, size_t len)
{
    int rc;
    (void)c;
    rc = mosquitto_publish(mosq, NULL, topic, (int)len, payload, 1, false);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int subscribe(void *c, const char *topic)
{
    (void)c;
    return mosquitto_subscribe(mosq, NULL, topic, 1) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* The key file holds the 32-byte private scalar as 64 hex digits, mode 0600. */
static int key_load(void *c, uint8_t key[32])
{
    char hex[80];
    FILE *f = fopen(key_path, "r");
    int i;
    (void)c;
    if (!f) return -1;
    if (!fgets(hex, sizeof hex, f)) { fclose(f); return -1; }
    fclose(f);
    for (i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        key[i] = (uint8_t)v;
    }
    return 0;
}

static int key_store(void *c, const uint8_t key[32])
{
    int fd, i;
    char hex[66];
    (void)c;
    for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[64] = '\n';
    fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    if (write(fd, hex, 65) != 65) { close(fd); return -1; }
    return close(fd);
}

static void port_log(void *c, int level, const char *msg)
{
    (void)c;
    log_line(level, msg);
}

static void on_connect(struct mosquitto *m, void *u, int rc)
{
    (void)m;
    (void)u;
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "broker refused the connection: %s", mosquitto_connack_string(rc));
        log_line(PP_LOG_ERROR, msg);
        return;
    }
    log_line(PP_LOG_INFO, "connected");
    pp_on_connect(prop);
}

static void on_disconnect(struct mosquitto *m, void *u, int rc)
{
    (void)m;
    (void)u;
    if (rc != 0) log_line(PP_LOG_WARN, "connection lost: reconnecting");
    pp_on_disconnect(prop);
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg)
{
    (void)m;
    (void)u;
    pp_on_message(prop, msg->topic, (const uint8_t *)msg->payload, (size_t)msg->payloadlen);
}

static const char *env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static unsigned long env_num(const char *name, unsigned long def)
{
    const char *v = getenv(name);
    char *end;
    unsigned long n;
    if (!v || !*v) return def;
    n = strtoul(v, &end, 10);
    if (*end) {
        fprintf(stderr, "%s: \"%s\" is not a number\n", name, v);
        exit(2);
    }
    return n;
}

static void on_signal(int s)
{
    (void)s;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    pp_config cfg;
    pp_port port;
    const char *url = env("PROPELLER_MQTT_URL", "mqtt://127.0.0.1:1883"), *level = env("PROPELLER_LOG_LEVEL", "info");
    char host[256], client_id[PP_ID_MAX + 16], will_topic[PP_TOPIC_MAX], will[1024], keyfile[PP_ID_MAX + 8];
    char *tags_copy = NULL;
    int port_no, tls, rc;
    uint8_t *slot_memory;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: propeller-proplet-c   (configured by PROPELLER_* environment variables; see firmware/README.md)");
        return 0;
    }
    if (!strcmp(level, "debug")) min_level = PP_LOG_DEBUG;
    else if (!strcmp(level, "warn")) min_level = PP_LOG_WARN;
    else if (!strcmp(level, "error")) min_level = PP_LOG_ERROR;
    memset(&cfg, 0, sizeof cfg);
    cfg.id = getenv("PROPELLER_PROPLET_ID");
    if (!cfg.id) {
        fprintf(stderr, "PROPELLER_PROPLET_ID is required\n");
        return 2;
    }
    cfg.name = env("PROPELLER_PROPLET_NAME", cfg.id);
    cfg.topic_root = env("PROPELLER_TOPIC_ROOT", "propeller/v1");
    cfg.slots = (uint32_t)env_num("PROPELLER_PROPLET_SLOTS", 2);
    cfg.slot_bytes = env_num("PROPELLER_SLOT_BYTES", 1024 * 1024);
    cfg.artifact_max = env_num("PROPELLER_ARTIFACT_MAX_BYTES", 256 * 1024);
    cfg.heartbeat_ms = (uint32_t)env_num("PROPELLER_HEARTBEAT_MS", 5000);
    cfg.resend_ms = (uint32_t)env_num("PROPELLER_RESULT_RESEND_MS", 2000);
    cfg.chunk_timeout_ms = (uint32_t)env_num("PROPELLER_CHUNK_TIMEOUT_MS", 5000);
    cfg.fuel_per_ms = env_num("PROPELLER_FUEL_PER_MS", 20000);
    if (getenv("PROPELLER_PROPLET_TAGS")) {
        char *t, *save = NULL;
        tags_copy = strdup(getenv("PROPELLER_PROPLET_TAGS"));
        for (t = strtok_r(tags_copy, ",", &save); t && cfg.ntags < 4; t = strtok_r(NULL, ",", &save))
            if (*t) cfg.tags[cfg.ntags++] = t;
    }
    snprintf(keyfile, sizeof keyfile, "%s.key", cfg.id);
    key_path = env("PROPELLER_IDENTITY_FILE", keyfile);

    if (!strncmp(url, "mqtts://", 8)) tls = 1;
    else if (!strncmp(url, "mqtt://", 7)) tls = 0;
    else {
        fprintf(stderr, "PROPELLER_MQTT_URL: must be mqtt:// or mqtts://\n");
        return 2;
    }
    port_no = tls ? 8883 : 1883;
    if (sscanf(url + (tls ? 8 : 7), "%255[^:/]:%d", host, &port_no) < 1) {
        fprintf(stderr, "PROPELLER_MQTT_URL: no host\n");
        return 2;
    }

    memset(&port, 0, sizeof port);
    port.wall_ms = wall_ms;
    port.mono_ms = mono_ms;
    port.random = rnd;
    port.publish = publish;
    port.subscribe = subscribe;
    port.key_load = key_load;
    port.key_store = key_store;
    port.log = port_log;
    prop = aligned_alloc(16, (pp_size() + 15) & ~(size_t)15);
    slot_memory = aligned_alloc(16, ((size_t)cfg.slots * cfg.slot_bytes + 15) & ~(size_t)15);
    if (!prop || !slot_memory) {
        log_line(PP_LOG_ERROR, "out of memory");
        return 1;
    }
    if (pp_init(prop, &cfg, &port, slot_memory, (size_t)cfg.slots * cfg.slot_bytes) != 0) return 2;

    mosquitto_lib_init();
    /* `<identity>:<suffix>`, as the TypeScript proplet: a broker binding client ids to
     * certificate identities accepts it */
    snprintf(client_id, sizeof client_id, "%s:proplet", cfg.id);
    mosq = mosquitto_new(client_id, true, NULL);
    if (!mosq) {
        log_line(PP_LOG_ERROR, "mosquitto_new failed");
        return 1;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    rc = pp_last_will(prop, will_topic, sizeof will_topic, will, sizeof will);
    if (rc < 0 || mosquitto_will_set(mosq, will_topic, rc, will, 1, false) != MOSQ_ERR_SUCCESS) {
        log_line(PP_LOG_ERROR, "cannot set the last will");
        return 1;
    }
    if (tls) {
        const char *ca = getenv("PROPELLER_MQTT_CA_FILE"), *cert = getenv("PROPELLER_MQTT_CERT_FILE"), *key = getenv("PROPELLER_MQTT_KEY_FILE");
        if ((cert == NULL) != (key == NULL)) {
            fprintf(stderr, "PROPELLER_MQTT_CERT_FILE and PROPELLER_MQTT_KEY_FILE go together\n");
            return 2;
        }
        if (mosquitto_tls_set(mosq, ca, ca ? NULL : "/etc/ssl/certs", cert, key, NULL) != MOSQ_ERR_SUCCESS) {
            log_line(PP_LOG_ERROR, "TLS settings refused (check the CA, certificate and key files)");
            return 2;
        }
    }
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_disconnect_callback_set(mosq, on_disconnect);
    mosquitto_message_callback_set(mosq, on_message);
    mosquitto_reconnect_delay_set(mosq, 1, 10, true);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    /* short keepalive: the broker notices a vanished proplet (and sends the will) within ~15 s */
    if (mosquitto_connect(mosq, host, port_no, 10) != MOSQ_ERR_SUCCESS) log_line(PP_LOG_WARN, "broker unreachable: retrying");
    while (!stop_requested) {
        rc = mosquitto_loop(mosq, 100, 1);
        if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_PROTOCOL) {
            pp_on_disconnect(prop);
            sleep(1);
            mosquitto_reconnect(mosq);
            continue;
        }
        pp_tick(prop);
    }
    /* graceful: say offline, then DISCONNECT (which suppresses the will) */
    {
        char t[PP_TOPIC_MAX], payload[1024];
        int n = pp_last_will(prop, t, sizeof t, payload, sizeof payload), k;
        if (n > 0) {
            char *r = strstr(payload, "connection lost (last will)");
            if (r) memcpy(r, "shutdown\"}", 11);
            mosquitto_publish(mosq, NULL, t, (int)strlen(payload), payload, 1, false);
            for (k = 0; k < 10; k++) mosquitto_loop(mosq, 100, 1);
        }
    }
    log_line(PP_LOG_INFO, "shutting down");
    mosquitto_disconnect(mosq);
    mosquitto_loop(mosq, 100, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    free(slot_memory);
    free(prop);
    free(tags_copy);
    return 0;
}
