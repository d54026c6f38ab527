/* The C proplet's Zephyr port (ESP32-S3). NOT BUILT HERE: no Zephyr SDK on this machine (see
 * ../README.md). Only platform glue: every decision is in firmware/core (host-tested). */
#include "pp_core.h"
#include <string.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/mqtt.h>
#include <zephyr/net/socket.h>
#include <zephyr/random/random.h>
#include <zephyr/settings/settings.h>
#include <zephyr/sys/clock.h>

LOG_MODULE_REGISTER(propeller, LOG_LEVEL_INF);

#define SLOTS 2
#define SLOT_BYTES (160 * 1024)

static uint8_t slot_memory[SLOTS * SLOT_BYTES] __aligned(16);
static uint8_t proplet_memory[64 * 1024] __aligned(16); /* checked against pp_size() at start */
static struct mqtt_client client;
static uint8_t rx[4096], tx[4096], payload[96 * 1024];
static uint8_t key_cache[32];
static bool key_loaded;
static pp_proplet *prop;

static int64_t wall_ms(void *c)
{
    struct timespec ts;
    ARG_UNUSED(c);
    sys_clock_gettime(SYS_CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void *c)
{
    ARG_UNUSED(c);
    return (uint64_t)k_uptime_get();
}

static int rnd(void *c, uint8_t *out, size_t n)
{
    ARG_UNUSED(c);
    return sys_csrand_get(out, n);
}

static int publish(void *c, const char *topic, const uint8_t *data, size_t len)
{
    struct mqtt_publish_param p = {0};
    static uint16_t id;
    ARG_UNUSED(c);
    p.message.topic.topic.utf8 = (const uint8_t *)topic;
    p.message.topic.topic.size = strlen(topic);
    p.message.topic.qos = MQTT_QOS_1_AT_LEAST_ONCE;
    p.message.payload.data = (uint8_t *)data;
    p.message.payload.len = len;
    p.message_id = ++id;
    return mqtt_publish(&client, &p);
}

static int subscribe(void *c, const char *topic)
{
    struct mqtt_topic t = {.topic = {.utf8 = (const uint8_t *)topic, .size = strlen(topic)}, .qos = MQTT_QOS_1_AT_LEAST_ONCE};
    struct mqtt_subscription_list l = {.list = &t, .list_count = 1, .message_id = 1};
    ARG_UNUSED(c);
    return mqtt_subscribe(&client, &l);
}

static int key_set(const char *name, size_t len, settings_read_cb read_cb, void *cb_arg)
{
    if (strcmp(name, "key") || len != 32) return -ENOENT;
    key_loaded = read_cb(cb_arg, key_cache, 32) == 32;
    return 0;
}
SETTINGS_STATIC_HANDLER_DEFINE(propeller, "propeller", NULL, key_set, NULL, NULL);

static int key_load(void *c, uint8_t key[32])
{
    ARG_UNUSED(c);
    if (!key_loaded) return -1;
    memcpy(key, key_cache, 32);
    return 0;
}

static int key_store(void *c, const uint8_t key[32])
{
    ARG_UNUSED(c);
    return settings_save_one("propeller/key", key, 32);
}

static void port_log(void *c, int level, const char *msg)
{
    ARG_UNUSED(c);
    if (level >= PP_LOG_ERROR) LOG_ERR("%s", msg);
    else if (level == PP_LOG_WARN) LOG_WRN("%s", msg);
    else LOG_INF("%s", msg);
}

static void on_event(struct mqtt_client *c, const struct mqtt_evt *evt)
{
    static char topic[PP_TOPIC_MAX];
    switch (evt->type) {
    case MQTT_EVT_CONNACK:
        if (evt->result == 0) pp_on_connect(prop);
        break;
    case MQTT_EVT_DISCONNECT:
        pp_on_disconnect(prop);
        break;
    case MQTT_EVT_PUBLISH: {
        const struct mqtt_publish_param *p = &evt->param.publish;
        size_t n = p->message.payload.len, t = MIN(p->message.topic.topic.size, sizeof topic - 1);
        memcpy(topic, p->message.topic.topic.utf8, t);
        topic[t] = 0;
        if (n > sizeof payload || mqtt_readall_publish_payload(c, payload, n) != 0) {
            LOG_WRN("dropped a %u-byte message: over the device budget", (unsigned)n);
            break;
        }
        if (p->message.topic.qos == MQTT_QOS_1_AT_LEAST_ONCE) {
            struct mqtt_puback_param ack = {.message_id = p->message_id};
            mqtt_publish_qos1_ack(c, &ack);
        }
        pp_on_message(prop, topic, payload, n);
        break;
    }
    default:
        break;
    }
}

int main(void)
{
    pp_config cfg = {0};
    pp_port port = {NULL, wall_ms, mono_ms, rnd, publish, subscribe, key_load, key_store, port_log};
    if (pp_size() > sizeof proplet_memory) {
        LOG_ERR("proplet state needs %u bytes", (unsigned)pp_size());
        return 0;
    }
    settings_subsys_init();
    settings_load();
    cfg.id = CONFIG_PROPELLER_PROPLET_ID;
    cfg.name = CONFIG_PROPELLER_PROPLET_ID;
    cfg.topic_root = "propeller/v1";
    cfg.slots = SLOTS;
    cfg.slot_bytes = SLOT_BYTES;
    cfg.artifact_max = 48 * 1024;
    cfg.heartbeat_ms = 5000;
    cfg.tags[0] = "esp32s3";
    cfg.ntags = 1;
    prop = (pp_proplet *)proplet_memory;
    if (pp_init(prop, &cfg, &port, slot_memory, sizeof slot_memory) != 0) return 0;
    mqtt_client_init(&client);
    client.evt_cb = on_event;
    client.rx_buf = rx;
    client.rx_buf_size = sizeof rx;
    client.tx_buf = tx;
    client.tx_buf_size = sizeof tx;
    client.transport.type = MQTT_TRANSPORT_SECURE;
    /* broker address, TLS credentials (sec_tag of the CA and the client certificate) and the
     * last will (pp_last_will) are set here on a real build */
    for (;;) {
        if (mqtt_connect(&client) != 0) {
            k_sleep(K_SECONDS(2));
            continue;
        }
        while (mqtt_input(&client) == 0) {
            mqtt_live(&client);
            pp_tick(prop);
            k_sleep(K_MSEC(100));
        }
        pp_on_disconnect(prop);
        mqtt_abort(&client);
    }
    return 0;
}
