#!/usr/bin/python3
"""A KBS client written only from /work/shared/design/KBS-PROTOCOL.md (no Propeller code).

Usage: stock_client.py <kbs-url> <repo/type/tag> [ec|rsa]
Runs auth -> attest (sample TEE) -> resource twice (cookie, then bearer), decrypts each JWE with
jwcrypto, checks the protected header the way the stock guest does (re-serialised, alg and enc
first), and prints one JSON object with what it saw. Exits non-zero on any protocol deviation.
"""
import base64
import hashlib
import http.cookiejar
import json
import sys
import urllib.error
import urllib.request

from jwcrypto import jwe, jwk


def jcs(value):
    # RFC 8785 for the values used here (strings and objects, no floats): sorted keys, no spaces.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha384(text):
    return hashlib.sha384(text.encode("utf-8")).digest()


def check_worked_example():
    example = {"additional-evidence": "", "nonce": "bm9uY2U=",
               "tee-pubkey": {"alg": "ECDH-ES+A256KW", "crv": "P-256", "kty": "EC", "x": "AAAA", "y": "BBBB"}}
    digest = sha384(jcs(example))
    assert digest.hex() == "d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43", digest.hex()
    assert base64.b64encode(digest).decode() == "0gSQ0w5fFsumk6vByjwx7Zd9JyLQrfAamAly0WkT3DjxA8HxKr9HffBSOvKxLktD"
    jcs_check = sha384(jcs({"b": 1, "a": "test", "c": {"d": "e"}})).hex()
    assert jcs_check == "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3", jcs_check
    return digest.hex()


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method, path, body=None, headers=None, use_cookies=True):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = self.opener if use_cookies else urllib.request.build_opener()
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()


def decrypt(raw, key):
    document = json.loads(raw)
    assert list(document.keys()) == ["protected", "encrypted_key", "iv", "ciphertext", "tag"], list(document.keys())
    header_text = base64.urlsafe_b64decode(document["protected"] + "=" * (-len(document["protected"]) % 4)).decode()
    header = json.loads(header_text)
    assert list(header.keys())[:2] == ["alg", "enc"], header_text
    assert header["enc"] == "A256GCM"
    # The stock guest parses the header into a struct (alg, enc, then the other members in a
    # sorted map) and re-serialises it to compute the AAD: that text must equal what was sent.
    rest = {k: v for k, v in header.items() if k not in ("alg", "enc")}
    reserialised = json.dumps({"alg": header["alg"], "enc": header["enc"]}, separators=(",", ":"))[:-1]
    if rest:
        reserialised += "," + json.dumps(rest, sort_keys=True, separators=(",", ":"))[1:]
    else:
        reserialised += "}"
    assert reserialised == header_text, (reserialised, header_text)
    token = jwe.JWE()
    token.deserialize(raw.decode(), key=key)
    return header["alg"], token.payload


def main():
    base, resource = sys.argv[1], sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "ec"
    example = check_worked_example()
    client = Client(base)

    status, headers, body = client.call("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "sample",
                                        "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]}})
    assert status == 200, (status, body)
    challenge = json.loads(body)
    assert challenge["extra-params"] == "", challenge
    nonce = challenge["nonce"]
    assert len(base64.b64decode(nonce, validate=True)) == 32, nonce
    cookies = [c for c in client.jar if c.name == "kbs-session-id"]
    assert cookies and len(cookies[0].value) == 32 and all(c in "0123456789abcdef" for c in cookies[0].value), cookies

    if kind == "rsa":
        key = jwk.JWK.generate(kty="RSA", size=2048)
        public = json.loads(key.export_public())
        tee_pubkey = {"kty": "RSA", "alg": "RSA-OAEP-256", "n": public["n"], "e": public["e"]}
    else:
        key = jwk.JWK.generate(kty="EC", crv="P-256")
        public = json.loads(key.export_public())
        tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": public["x"], "y": public["y"]}
    runtime_data = {"nonce": nonce, "tee-pubkey": tee_pubkey}
    report_data = sha384(jcs({"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}))
    evidence = {"svn": "1", "report_data": base64.b64encode(report_data).decode()}
    status, _, body = client.call("POST", "/kbs/v0/attest", {"runtime-data": runtime_data,
                                  "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}})
    assert status == 200, (status, body)
    token = json.loads(body)["token"]
    segments = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(segments[1] + "=" * (-len(segments[1]) % 4)))
    attested = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"]["tee-pubkey"]
    assert attested == tee_pubkey, attested

    status, _, body = client.call("GET", "/kbs/v0/resource/" + resource)
    assert status == 200, (status, body)
    alg_cookie, by_cookie = decrypt(body, key)
    status, _, body = client.call("GET", "/kbs/v0/resource/" + resource, headers={"Authorization": "Bearer " + token}, use_cookies=False)
    assert status == 200, (status, body)
    alg_bearer, by_bearer = decrypt(body, key)
    assert by_cookie == by_bearer

    print(json.dumps({"example_sha384": example, "status": claims["submods"]["cpu0"]["ear.status"],
                      "alg": [alg_cookie, alg_bearer], "plaintext_hex": by_cookie.hex()}))


if __name__ == "__main__":
    main()
