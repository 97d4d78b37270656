"""The audit log's signing key and its external witness, kept outside the workspace.

Folder: ``$MONEYTRAIL_KEY_DIR``, else ``$XDG_CONFIG_HOME/moneytrail/keys``, else
``~/.config/moneytrail/keys``. Per workspace (by the id its schema gave it):

- ``<id>.ed25519``: the Ed25519 private key (hex of the 32-byte seed), mode 0600;
- ``<id>.pub``: the public key (hex), to give to whoever verifies the log;
- ``<id>.head.json``: the latest signed tree head, written after each append. A workspace
  replaced by an older copy (a rolled-back log) no longer reaches this head, and that is caught
  on the next append and by ``moneytrail audit verify``;
- ``<id>.secret``: the key of the keyed hashes that stand for protected values (a taxpayer's
  name, an order's scope) in the audit log and the authority state, mode 0600;
- ``<id>.workspace``: where the workspace was when its log was started, so that a log is never
  started again for the same workspace under a new id (see ``moneytrail.audit.start_log``).

The folder is created mode 0700, and a key is never written into a folder others can read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from moneytrail.errors import MoneytrailError

ENV_KEY_DIR = "MONEYTRAIL_KEY_DIR"

_private: dict[tuple[str, str], Ed25519PrivateKey] = {}


def key_dir() -> Path:
    env = os.environ.get(ENV_KEY_DIR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "moneytrail" / "keys"


def key_path(log_id: str) -> Path:
    return key_dir() / f"{log_id}.ed25519"


def public_key_path(log_id: str) -> Path:
    return key_dir() / f"{log_id}.pub"


def head_path(log_id: str) -> Path:
    return key_dir() / f"{log_id}.head.json"


class KeyFolderError(MoneytrailError):
    """The key folder cannot hold keys safely (others may read it)."""


def ensure_key_dir() -> Path:
    """The key folder, created mode 0700 if missing; refused if others may read or write it."""
    import stat

    d = key_dir()
    if not d.is_dir():
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    mode = stat.S_IMODE(d.stat().st_mode)
    if mode & 0o077:
        raise KeyFolderError(f"the key folder {d} is open to other users (mode {mode:04o}): chmod 700 {d} "
                              f"(or set {ENV_KEY_DIR} to a private folder)")
    return d


def _write_private(p: Path, text: str) -> None:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def signing_key(log_id: str, *, create: bool) -> Ed25519PrivateKey | None:
    """The workspace's private key; created (with its public key) when ``create`` and absent."""
    d = key_dir()
    cache = (str(d), log_id)
    if cache in _private:
        return _private[cache]
    p = key_path(log_id)
    if p.is_file():
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(p.read_text().strip()))
    elif create:
        ensure_key_dir()
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes_raw().hex()
        _write_private(p, seed + "\n")
        public_key_path(log_id).write_text(key.public_key().public_bytes_raw().hex() + "\n")
    else:
        return None
    _private[cache] = key
    return key


def load_public_key(text_or_path: str | os.PathLike | None, log_id: str) -> tuple[Ed25519PublicKey | None, str]:
    """A public key from hex text, a file holding it, or the key folder; with where it came from."""
    if text_or_path:
        s = str(text_or_path)
        p = Path(s)
        raw = p.read_text().strip() if p.is_file() else s.strip()
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw)), (str(p) if p.is_file() else "given")
    p = public_key_path(log_id)
    if p.is_file():
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(p.read_text().strip())), str(p)
    return None, ""


_head_paths: dict[tuple, str] = {}


def _head_file(log_id: str) -> str:
    """head_path() as a string, remembered per key folder setting (an append reads and writes it)."""
    k = (os.environ.get(ENV_KEY_DIR), os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"), log_id)
    p = _head_paths.get(k)
    if p is None:
        p = _head_paths[k] = str(head_path(log_id))
    return p


def read_external_head(log_id: str) -> bytes | None:
    try:
        fd = os.open(_head_file(log_id), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return os.pread(fd, 1 << 16, 0).strip()
    finally:
        os.close(fd)


HEAD_RECORD = 1024  # the head is rewritten in place, padded to this size (no rename: see below)


def write_external_head(log_id: str, record: bytes) -> None:
    """Overwrite the external head in place. Not write-then-rename: on ext4 a rename over an
    existing file forces the new file's data out to disk first (auto_da_alloc), milliseconds
    per append; a padded rewrite of one small record is not."""
    p = _head_file(log_id)
    data = record + b"\n"
    if len(data) < HEAD_RECORD:
        data = record + b" " * (HEAD_RECORD - 1 - len(record)) + b"\n"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, 0)
        if os.fstat(fd).st_size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def external_head(log_id: str) -> dict | None:
    raw = read_external_head(log_id)
    return json.loads(raw) if raw else None


_secrets: dict[tuple[str, str], bytes] = {}


def secret(log_id: str, *, create: bool = True) -> bytes:
    """The workspace's keyed-hash secret (32 random bytes), created when absent and ``create``;
    without it (and not created) an empty key, which is enough only for an empty state."""
    cache = (str(key_dir()), log_id)
    got = _secrets.get(cache)
    if got is not None:
        return got
    p = key_dir() / f"{log_id}.secret"
    if p.is_file():
        got = bytes.fromhex(p.read_text().strip())
    elif create:
        ensure_key_dir()
        got = os.urandom(32)
        try:
            _write_private(p, got.hex() + "\n")
        except FileExistsError:          # created meanwhile by another process
            got = bytes.fromhex(p.read_text().strip())
    else:
        return b""
    _secrets[cache] = got
    return got


def record_workspace(log_id: str, workspace: Path) -> None:
    """Note, beside the key, where the workspace whose log is being started lives."""
    ensure_key_dir()
    p = key_dir() / f"{log_id}.workspace"
    p.unlink(missing_ok=True)
    _write_private(p, str(Path(workspace).resolve()) + "\n")


def logs_kept_for(workspace: Path) -> list[tuple[str, int]]:
    """The logs this key folder kept for the workspace at ``workspace`` (any id): (id, entries
    its latest witness covers)."""
    d = key_dir()
    if not d.is_dir():
        return []
    target = str(Path(workspace).resolve())
    out = []
    for p in d.glob("*.workspace"):
        try:
            if p.read_text().strip() != target:
                continue
        except OSError:
            continue
        log_id = p.name[: -len(".workspace")]
        head = external_head(log_id)
        out.append((log_id, int(head["size"]) if head else 0))
    return out
