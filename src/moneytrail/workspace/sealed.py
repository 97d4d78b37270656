"""Evidence copies sealed at rest: AES-256-GCM in 1 MiB chunks, for sources holding federal tax
information (IRS Publication 1075 asks for FTI to be encrypted at rest).

The key is derived (HKDF-SHA256) from the workspace's secret kept beside its signing key
(:func:`moneytrail.audit.keys.secret`), never stored in the workspace folder: a copy of the
workspace without its key folder cannot open them.

Format (``<sha256>.enc`` in the evidence folder)::

    b"MTSEAL1\\n" | nonce prefix (8 bytes) | chunk size (4 bytes, big-endian)
    then per chunk: AES-GCM(key, nonce = prefix | index (4 bytes, the top bit set on the last
                    chunk), chunk, associated data = the file's SHA-256 in hex)

Each chunk's nonce is unique within the file (its index) and across files (the random prefix);
the last-chunk bit and the index in the nonce make truncation, reordering and splicing fail to
decrypt. :func:`open_sealed` gives the original bytes back and checks their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

MAGIC = b"MTSEAL1\n"
CHUNK = 1 << 20
_LAST = 1 << 31


def evidence_key(secret: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not secret:
        raise ValueError("no workspace secret to derive the evidence key from")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"moneytrail evidence v1").derive(secret)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= _LAST:
        raise ValueError("file too large to seal (2^31 chunks)")
    return prefix + (index | (_LAST if last else 0)).to_bytes(4, "big")


def seal(src: Path, dest: Path, key: bytes, sha256: str) -> None:
    """Write ``src`` sealed to ``dest`` (mode 0600)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, prefix, aad = AESGCM(key), os.urandom(8), sha256.encode()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
        out.write(MAGIC + prefix + CHUNK.to_bytes(4, "big"))
        index, chunk = 0, f.read(CHUNK)
        while True:
            nxt = f.read(CHUNK)
            out.write(aead.encrypt(_nonce(prefix, index, not nxt), chunk, aad))
            if not nxt:
                break
            index, chunk = index + 1, nxt


def open_sealed(path: Path, key: bytes, sha256: str) -> Iterator[bytes]:
    """The original bytes of a sealed copy, chunk by chunk; ValueError if it does not decrypt to
    the file whose SHA-256 it names (a wrong key, or a changed, cut or spliced copy)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, aad, h = AESGCM(key), sha256.encode(), hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 12)
        if not head.startswith(MAGIC) or len(head) != len(MAGIC) + 12:
            raise ValueError(f"{path} is not a sealed evidence copy")
        prefix, size = head[len(MAGIC):len(MAGIC) + 8], int.from_bytes(head[-4:], "big")
        index, block = 0, f.read(size + 16)
        while block:
            nxt = f.read(size + 16)
            try:
                data = aead.decrypt(_nonce(prefix, index, not nxt), block, aad)
            except InvalidTag:
                raise ValueError(f"{path}: chunk {index} does not decrypt (wrong key, or the copy was "
                                 f"changed, cut or spliced)") from None
            h.update(data)
            yield data
            index, block = index + 1, nxt
    if h.hexdigest() != sha256:
        raise ValueError(f"{path} decrypts to a file whose SHA-256 is not {sha256}")
