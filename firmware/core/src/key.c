/* The proplet's identity key (ECDSA P-256, mbedTLS) and compact JWS signing (ES256) of
 * receipts, as protocol/receipt/sign.ts does: header {"alg":"ES256","typ":"propeller-receipt+jws",
 * "jwk":{...}}, signature R||S (64 bytes). Nonces are deterministic (RFC 6979); the port's
 * random source blinds the computation and makes new keys. */
#include "core_internal.h"
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <stdio.h>
#include <string.h>

static int rng(void *ctx, unsigned char *out, size_t n)
{
    const pp_port *port = (const pp_port *)ctx;
    return port->random(port->ctx, out, n) == 0 ? 0 : -1;
}

int pp_key_from_private(pp_key *k, const uint8_t d[32], const pp_port *port)
{
    mbedtls_ecp_group grp;
    mbedtls_mpi md;
    mbedtls_ecp_point q;
    char x[48], y[48];
    int rc = -1;
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&md);
    mbedtls_ecp_point_init(&q);
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 && mbedtls_mpi_read_binary(&md, d, 32) == 0 &&
        mbedtls_ecp_check_privkey(&grp, &md) == 0 &&
        mbedtls_ecp_mul(&grp, &q, &md, &grp.G, rng, (void *)port) == 0 &&
        mbedtls_mpi_write_binary(&q.X, k->x, 32) == 0 && mbedtls_mpi_write_binary(&q.Y, k->y, 32) == 0) {
        memcpy(k->d, d, 32);
        pp_b64_encode(k->x, 32, x, sizeof x, 1);
        pp_b64_encode(k->y, 32, y, sizeof y, 1);
        snprintf(k->jwk, sizeof k->jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
        rc = 0;
    }
    mbedtls_ecp_point_free(&q);
    mbedtls_mpi_free(&md);
    mbedtls_ecp_group_free(&grp);
    return rc;
}

int pp_key_init(pp_key *k, const pp_port *port)
{
    uint8_t d[32];
    int tries;
    if (port->key_load && port->key_load(port->ctx, d) == 0 && pp_key_from_private(k, d, port) == 0) {
        memset(d, 0, sizeof d);
        return 0;
    }
    /* a new key: random scalars until one is in [1, n-1] (almost always the first) */
    for (tries = 0; tries < 8; tries++) {
        if (port->random(port->ctx, d, sizeof d) != 0) return -1;
        if (pp_key_from_private(k, d, port) == 0) {
            if (port->key_store && port->key_store(port->ctx, d) != 0 && port->log)
                port->log(port->ctx, PP_LOG_WARN, "identity key not stored: a restart will make a new one");
            memset(d, 0, sizeof d);
            return 0;
        }
    }
    return -1;
}

long pp_jws_sign(const pp_key *k, const pp_port *port, const char *payload, size_t n, char *out, size_t cap)
{
    char header[256];
    size_t hl, pl, o;
    uint8_t hash[32], sig[64];
    mbedtls_ecp_group grp;
    mbedtls_mpi d, r, s;
    int ok;
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"typ\":\"propeller-receipt+jws\",\"jwk\":%s}", k->jwk);
    hl = pp_b64_encode((const uint8_t *)header, strlen(header), out, cap, 1);
    if (!hl || hl + 2 >= cap) return -1;
    out[hl] = '.';
    pl = pp_b64_encode((const uint8_t *)payload, n, out + hl + 1, cap - hl - 1, 1);
    if (!pl) return -1;
    o = hl + 1 + pl;
    pp_sha256((const uint8_t *)out, o, hash);
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    ok = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 && mbedtls_mpi_read_binary(&d, k->d, 32) == 0 &&
         mbedtls_ecdsa_sign_det_ext(&grp, &r, &s, &d, hash, 32, MBEDTLS_MD_SHA256, rng, (void *)port) == 0 &&
         mbedtls_mpi_write_binary(&r, sig, 32) == 0 && mbedtls_mpi_write_binary(&s, sig + 32, 32) == 0;
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    if (!ok || o + 1 >= cap) return -1;
    out[o] = '.';
    pl = pp_b64_encode(sig, 64, out + o + 1, cap - o - 1, 1);
    if (!pl) return -1;
    return (long)(o + 1 + pl);
}
