#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/mktokens.py ALG KEYFILE N OUT: N distinct publisher tokens (JWT,
# RFC 7519) for bench/run.sh --compare-auth, one a line: claims
# {"exp": now + 3600 + i, "jti": i, "fcpush": {"publish": ["*"]}}. ALG HS256:
# KEYFILE is the shared secret (its bytes less one trailing newline, as
# fcpush reads auth_key_file); ES256: KEYFILE is a PEM P-256 private key
# (python3-cryptography), the signature r || s as JWS requires (RFC 7518
# §3.4).
import base64, hashlib, hmac, json, sys, time

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

alg, keyfile, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
key = open(keyfile, "rb").read()
if alg == "HS256":
    key = key[:-1] if key.endswith(b"\n") else key
    sign = lambda m: hmac.new(key, m, hashlib.sha256).digest()
elif alg == "ES256":
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    pk = serialization.load_pem_private_key(key, password=None)
    def sign(m):
        r, s = decode_dss_signature(pk.sign(m, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
else:
    sys.exit("mktokens.py: ALG is HS256 or ES256")
head = b64(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
now = int(time.time())
with open(out, "w") as f:
    for i in range(n):
        claims = {"exp": now + 3600 + i, "jti": str(i), "fcpush": {"publish": ["*"]}}
        msg = head + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        f.write(msg + "." + b64(sign(msg.encode())) + "\n")
