#!/usr/bin/env python3
"""Independent decryptor for the twincrypt object format, version 1.

Written from docs/FORMAT.md alone. Needs the `cryptography` package.
Usage: decrypt.py  (checks every plain-N.blob in this directory)
"""
import glob
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

H, C, T = 154, 65536, 16


def hkdf(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def plaintext_size(b):
    r = b - H
    if b < H or r < T:
        raise ValueError("integrity: impossible size")
    q, m = divmod(r, C + T)
    if m == 0:
        n = q
    elif m == T and q == 0:
        n = 1
    elif m > T:
        n = q + 1
    else:
        raise ValueError("integrity: impossible size")
    return r - T * n, n


def decrypt(blob, keks):
    if len(blob) < H or blob[0:4] != b"TWCO" or blob[4] != 1 or blob[5] != 1:
        raise ValueError("integrity: bad header")
    if struct.unpack(">I", blob[6:10])[0] != C:
        raise ValueError("integrity: bad chunk size")
    oid, salt, mac = blob[10:26], blob[26:58], blob[58:90]
    kek_id = struct.unpack(">I", blob[90:94])[0]
    ad = b"twincrypt v1 data key wrap" + oid + struct.pack(">I", kek_id)
    data_key = AESGCM(keks[kek_id]).decrypt(blob[94:106], blob[106:154], ad)
    payload_key = hkdf(data_key, salt, b"twincrypt v1 payload key")
    header_key = hkdf(data_key, salt, b"twincrypt v1 header key")
    if not hmac.compare_digest(hmac.new(header_key, blob[0:58], hashlib.sha256).digest(), mac):
        raise ValueError("integrity: header MAC")
    _, n = plaintext_size(len(blob))
    aead, out, pos = AESGCM(payload_key), b"", H
    for i in range(n):
        size = C + T if i < n - 1 else len(blob) - pos
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00")
        out += aead.decrypt(nonce, blob[pos:pos + size], oid)
        pos += size
    return out


if __name__ == "__main__":
    keks = {7: bytes(range(0xA0, 0xC0))}
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "plain-*.blob"))):
        p = int(os.path.basename(path)[6:-5])
        with open(path, "rb") as f:
            got = decrypt(f.read(), keks)
        assert got == bytes(j % 251 for j in range(p)), path
        print("ok", os.path.basename(path))
