"""Snapshot files at rest: zstd-compressed, then sealed with AES-256-GCM in authenticated frames.

Layout: ``MAGIC | key id (8) | salt (16) | nonce prefix (7)``, then frames ``length (4, big
endian) | ciphertext``. Frame ``i`` is sealed with nonce ``prefix | i (4) | last (1)`` and the
header as associated data, so a reordered, truncated, extended or altered file fails to open.
The key is derived with HKDF-SHA256 from a ``PLUGIN_DB_SECRET_KEY`` key and the file's salt;
the key id names which configured key, so files stay readable after a key rotation as long as
the old key is still listed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from worker.errors import SnapshotError

MAGIC = b"PDBSNAP1"
FRAME = 1024 * 1024
_HEADER = len(MAGIC) + 8 + 16 + 7
_INFO = b"plugin-db snapshot v1"
_LEVEL = 1  # as small as level 3 on table data here, several times faster


def _ikm(key: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(key.encode())
    except ValueError as exc:
        raise SnapshotError("PLUGIN_DB_SECRET_KEY holds a key that is not base64") from exc


def key_id(key: str) -> bytes:
    """A non-secret 8-byte name of a configured key."""
    return hashlib.sha256(b"plugin-db snapshot key id:" + _ikm(key)).digest()[:8]


def _derive(key: str, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
    return AESGCM(hkdf.derive(_ikm(key)))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


class SealingWriter:
    """A file-like sink: compresses what is written, seals it in frames into ``raw``.

    ``raw_bytes`` counts what was written in; ``size`` and ``checksum`` (SHA-256) describe
    the bytes stored. Call :meth:`close` to write the final frame.
    """

    def __init__(self, raw: BinaryIO, key: str) -> None:
        self.raw, self.raw_bytes, self.size = raw, 0, 0
        salt, prefix = os.urandom(16), os.urandom(7)
        self.header = MAGIC + key_id(key) + salt + prefix
        self._aead, self._prefix, self._index = _derive(key, salt), prefix, 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._zstd = zstandard.ZstdCompressor(level=_LEVEL).compressobj()
        self._emit(self.header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Compress and buffer ``data``; full frames are sealed and written at once."""
        self.raw_bytes += len(data)
        self._buffer += self._zstd.compress(data)
        if len(self._buffer) >= FRAME:
            self._flush_full()
        return len(data)

    def _flush_full(self) -> None:
        """Seal every full frame of the buffer, keeping the remainder."""
        view, start = memoryview(self._buffer), 0
        while len(self._buffer) - start >= FRAME:
            self._seal(view[start : start + FRAME], last=False)
            start += FRAME
        view.release()
        del self._buffer[:start]

    def close(self) -> None:
        """Flush the compressor and write the final frame."""
        self._buffer += self._zstd.flush()
        if len(self._buffer) > FRAME:
            self._flush_full()
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()

    @property
    def checksum(self) -> str:
        """SHA-256 of every byte stored so far."""
        return self._hash.hexdigest()

    def _seal(self, chunk: bytes | memoryview, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        sealed = self._aead.encrypt(nonce, chunk, self.header)
        self._index += 1
        self._emit(struct.pack(">I", len(sealed)))
        self._emit(sealed)

    def _emit(self, data: bytes) -> None:
        self.raw.write(data)
        self._hash.update(data)
        self.size += len(data)


class HashingReader:
    """Reads ``raw`` and keeps the SHA-256 of every byte read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        """The next bytes, hashed."""
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def finish(self) -> str:
        """Read what is left (hashed) and return the hex digest of the whole file."""
        while self.read(FRAME):
            pass
        return self.digest.hexdigest()


def checksum_of(raw: BinaryIO) -> str:
    """SHA-256 of a stored file, read to its end."""
    digest = hashlib.sha256()
    while chunk := raw.read(FRAME):
        digest.update(chunk)
    return digest.hexdigest()


def unseal(raw: BinaryIO | HashingReader, keys: Sequence[str]) -> Iterator[bytes]:
    """The plaintext of a sealed file, in chunks; SnapshotError says why it cannot be read."""
    header = raw.read(_HEADER)
    if len(header) != _HEADER or not header.startswith(MAGIC):
        raise SnapshotError("not a plugin-db snapshot file (bad header)")
    wanted = header[len(MAGIC) : len(MAGIC) + 8]
    key = next((k for k in keys if key_id(k) == wanted), None)
    if key is None:
        raise SnapshotError(
            "the snapshot was encrypted with a key that PLUGIN_DB_SECRET_KEY no longer lists"
        )
    aead = _derive(key, header[len(MAGIC) + 8 : len(MAGIC) + 24])
    prefix, index = header[len(MAGIC) + 24 :], 0
    zstd = zstandard.ZstdDecompressor().decompressobj()
    while True:
        length = raw.read(4)
        if len(length) != 4:
            raise SnapshotError("the snapshot file is truncated (no final frame)")
        sealed = raw.read(struct.unpack(">I", length)[0])
        chunk, last = _open_frame(aead, prefix, index, sealed, header)
        yield zstd.decompress(chunk)
        index += 1
        if last:
            if raw.read(1):
                raise SnapshotError("the snapshot file has data after its final frame")
            return


def _open_frame(
    aead: AESGCM, prefix: bytes, index: int, sealed: bytes, header: bytes
) -> tuple[bytes, bool]:
    for last in (False, True):
        try:
            return aead.decrypt(_nonce(prefix, index, last), sealed, header), last
        except InvalidTag:
            continue
    raise SnapshotError(
        f"the snapshot file fails authentication at frame {index}: it was altered or corrupted"
    )
