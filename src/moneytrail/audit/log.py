"""The workspace's audit log: an append-only RFC 9162 Merkle tree with signed tree heads.

Files, in a folder beside the workspace (``case.duckdb`` -> ``case.audit/``), like the evidence
folder:

- ``log.jsonl``: one entry per line, the leaf data. An entry is canonical JSON that begins
  ``{"seq":N,"ts":"...",`` and continues with its other fields in sorted key order; the leaf hash
  is ``SHA-256(0x00 || line)`` over the line's bytes without the newline.
- ``heads.jsonl``: one signed tree head per append: ``size``, ``root``, ``end`` (bytes of
  ``log.jsonl`` it covers), ``ts``, ``prev`` (SHA-256 of the previous head's line, so the heads
  form a chain that the latest signature seals) and ``sig`` (Ed25519 over those fields and the
  workspace id, see :func:`head_message`).
- ``frontier``: the compact range of the latest tree (one hash per set bit of its size),
  rewritten in place by each append so the next one is O(log n). Derived data: checked against
  the latest signed root before use, and recomputed from the entries if it does not match.

The signing key and a copy of the latest head live outside the workspace (:mod:`.keys`). Why
files and not DuckDB tables: a DuckDB commit is an fsync (4 ms on the development VM); an
append here is two ``write`` calls, a signature and a rename, which keeps authorization plus
audit under a millisecond per command. ``MONEYTRAIL_AUDIT_FSYNC=1`` adds an fsync per append.
The workspace records, once, that its log was started (``authority_state``), so deleting the
folder is detected too.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from moneytrail.audit import keys
from moneytrail.audit.merkle import EMPTY_ROOT, Frontier, Tree, leaf_hash, verify_consistency, verify_inclusion
from moneytrail.authority.state import EMPTY_STATE
from moneytrail.errors import MoneytrailError

ZERO = "0" * 64
ENV_FSYNC = "MONEYTRAIL_AUDIT_FSYNC"


class AuditError(MoneytrailError):
    """The audit log cannot be appended to or read, or it does not verify. A command whose
    decision or read cannot be recorded fails with this error (exit code 2)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_dir(workspace_path: Path) -> Path:
    name = workspace_path.name
    if name.endswith(".duckdb"):
        name = name[: -len(".duckdb")]
    return workspace_path.parent / f"{name}.audit"


def encode_entry(seq: int, ts: str, fields: dict[str, Any]) -> bytes:
    """The canonical line of an entry: seq and ts first, the rest in sorted key order."""
    rest = {k: v for k, v in fields.items() if k not in ("seq", "ts")}
    body = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    head = '{"seq":%d,"ts":%s' % (seq, json.dumps(ts))
    return (head + ("," + body[1:] if body != "{}" else "}")).encode("utf-8")


def head_message(log: str, size: int, root_hex: str, end: int, ts: str, prev: str, state: str | None) -> bytes:
    """The bytes a tree head's signature covers. v2 heads sign the authority state's hash too
    (:mod:`moneytrail.authority.state`); v1 heads (no state) are read only to report them."""
    if state is None:
        return b"moneytrail-sth/v1\n" + json.dumps(
            {"end": end, "log": log, "prev": prev, "root": root_hex, "size": size, "ts": ts},
            sort_keys=True, separators=(",", ":")).encode()
    return b"moneytrail-sth/v2\n" + json.dumps(
        {"end": end, "log": log, "prev": prev, "root": root_hex, "size": size, "state": state, "ts": ts},
        sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Head:
    size: int
    root: bytes
    end: int
    ts: str
    prev: str
    log: str
    sig: bytes
    line: bytes
    state: str | None = None     # the authority state's hash after the entries it covers (v2)

    @classmethod
    def parse(cls, line: bytes, log: str | None = None) -> "Head":
        d = json.loads(line)
        st = d.get("state")
        if st is not None and not (isinstance(st, str) and len(st) == 64):
            raise ValueError("state is not a SHA-256")
        return cls(int(d["size"]), bytes.fromhex(d["root"]), int(d["end"]), d["ts"], d["prev"],
                   d.get("log", log or ""), bytes.fromhex(d["sig"]), line, st)

    def message(self) -> bytes:
        return head_message(self.log, self.size, self.root.hex(), self.end, self.ts, self.prev, self.state)

    def signature_ok(self, public_key) -> bool:
        try:
            public_key.verify(self.sig, self.message())
            return True
        except Exception:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root.hex(), "end": self.end, "ts": self.ts,
                "prev": self.prev, "log": self.log, "state": self.state, "signature": self.sig.hex()}

    def record(self) -> bytes:
        """The head as kept beside the key: every signed field (the workspace id too) and the signature."""
        return json.dumps({"size": self.size, "root": self.root.hex(), "end": self.end, "ts": self.ts,
                           "prev": self.prev, "log": self.log, "state": self.state, "sig": self.sig.hex()},
                          separators=(",", ":")).encode()

    def same(self, other: "Head") -> bool:
        return ((self.size, self.root, self.end, self.state, self.sig)
                == (other.size, other.root, other.end, other.state, other.sig))


FRONTIER_RECORD = 8192  # 64 hashes in hex and the size fit; rewritten in place, padded


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    heads: int
    root: str
    first_bad: int | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    public_key: str = ""
    external_head: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class AuditLog:
    """One workspace's audit log. Get it with :meth:`of` (one per open workspace)."""

    def __init__(self, workspace_path: Path, log_id: str, anchor=None):
        self.dir = audit_dir(Path(workspace_path))
        self.log_path = self.dir / "log.jsonl"
        self.heads_path = self.dir / "heads.jsonl"
        self.frontier_path = self.dir / "frontier"
        self.log_id = log_id
        self._anchor = anchor          # callable(started: bool) -> bool: was the log started?
        self._ws_state = None          # callable() -> the workspace's state tokens (for verify)
        self._fds: tuple[int, int, int] | None = None
        self._last: Head | None = None
        self._sizes: tuple[int, int] = (-1, -1)
        self._ext: bytes | None = None
        self._frontier: Frontier | None = None
        self._finalizer = None

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def of(cls, ws) -> "AuditLog":
        log = ws.__dict__.get("_audit_log")
        if log is None:
            log_id = workspace_id(ws)

            def anchor(start: bool, ws=ws) -> bool:
                started = ws.scalar("SELECT audit_started_at FROM authority_state")
                if start and started is None:
                    ws.con.execute("UPDATE authority_state SET audit_started_at = ?, audit_folder = ?",
                                   [_dt.datetime.now(_dt.timezone.utc), str(audit_dir(ws.path))])
                return started is not None

            def ws_state(ws=ws):
                from moneytrail.authority import state
                return state.read(ws.con, state.secret_for(AuditLog.of(ws))).tokens

            log = cls(ws.path, log_id, anchor)
            log._ws_state = ws_state
            ws.__dict__["_audit_log"] = log
        return log

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._fds = None

    def _open(self) -> tuple[int, int]:
        if self._fds is None:
            if not self.dir.is_dir():
                self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.dir, 0o700)       # entries name officers, cases and files: owner only
            lf = os.open(self.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            hf = os.open(self.heads_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            ff = os.open(self.frontier_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fds = (lf, hf, ff)
            self._finalizer = weakref.finalize(self, _close_fds, lf, hf, ff)
        return self._fds

    # -- reading heads ---------------------------------------------------------------------------
    @staticmethod
    def _last_line(fd: int, size: int) -> bytes | None:
        if size == 0:
            return None
        chunk = 8192
        while True:
            start = max(0, size - chunk)
            buf = os.pread(fd, size - start, start)
            body = buf[:-1] if buf.endswith(b"\n") else buf
            i = body.rfind(b"\n")
            if i >= 0 or start == 0:
                return body[i + 1:]
            chunk *= 4

    def last_head(self) -> Head | None:
        """The latest signed head in the workspace (None for an empty log)."""
        if not self.heads_path.exists():
            return None
        with open(self.heads_path, "rb") as f:
            line = self._last_line(f.fileno(), os.fstat(f.fileno()).st_size)
        return Head.parse(line, self.log_id) if line else None

    def heads(self) -> list[Head]:
        if not self.heads_path.exists():
            return []
        return [Head.parse(l, self.log_id) for l in self.heads_path.read_bytes().splitlines() if l]

    def _load_frontier(self, ff: int, last: Head) -> Frontier:
        """The frontier at ``last``: cached, else the frontier file, else recomputed from the log;
        whichever, it must fold to the signed root."""
        f = self._frontier
        if f is not None and f.size == last.size and f.root() == last.root:
            return f
        try:
            d = json.loads(os.pread(ff, FRONTIER_RECORD, 0).strip() or b"null")
            f = Frontier(int(d["size"]), [bytes.fromhex(h) for h in d["hashes"]])
        except (ValueError, TypeError, KeyError):
            f = None
        if f is None or f.size != last.size or f.root() != last.root:
            f = Frontier()
            for line in self.lines()[:last.size]:
                f.append(leaf_hash(line))
            if f.size != last.size or f.root() != last.root:
                raise AuditError(f"{self.log_path} no longer matches its last signed tree head (size {last.size}): "
                                 f"run moneytrail audit verify")
        return f

    # -- appending --------------------------------------------------------------------------------
    def append(self, entries: Iterable[dict[str, Any]]) -> list[int]:
        """Append entries (dicts without ``seq``/``ts``) under one new signed head; their seqs."""
        entries = list(entries)
        if not entries:
            return []
        try:
            return self._append(entries)
        except AuditError:
            raise
        except (OSError, ValueError, KeyError) as e:
            raise AuditError(f"cannot append to the audit log {self.log_path}: {e}") from None

    def _checked_last(self, lf: int, hf: int) -> tuple[Head | None, int, int]:
        """The latest signed head, checked against the log's size and the witness beside the key
        (the caller holds the lock); with the log's and the heads' sizes."""
        lsize, hsize = os.fstat(lf).st_size, os.fstat(hf).st_size
        if (lsize, hsize) == self._sizes and self._last is not None:
            last = self._last
        else:
            line = self._last_line(hf, hsize)
            try:
                last = Head.parse(line, self.log_id) if line else None
            except (ValueError, KeyError, TypeError):
                raise AuditError(f"the last signed tree head in {self.heads_path} is not readable: an append "
                                 f"was interrupted (moneytrail audit repair) or the heads were altered "
                                 f"(moneytrail audit verify)") from None
        self._check_tail(last, lsize)
        self._check_external(last)
        if last is not None and last.state is None:
            raise AuditError(f"the audit log in {self.dir} was written by an earlier moneytrail (its signed heads "
                             f"carry no authority state): it can be verified but not appended to")
        return last, lsize, hsize

    def signed_state(self) -> str | None:
        """The authority state's hash under the latest signed head, that head vouched for by the
        witness beside the key (AuditError if anything disagrees). None for a log never started
        (and never known to the key folder)."""
        if not self.heads_path.exists() and not self.log_path.exists():
            if keys.read_external_head(self.log_id) is not None:
                raise AuditError(f"the audit log of this workspace is gone ({self.dir}): the signed head kept "
                                 f"beside the key says it held entries; restore the folder")
            if self._anchor is not None and self._anchor(False):
                raise AuditError(f"the audit log of this workspace was started but {self.dir} is missing "
                                 f"(deleted?): restore it")
            return None
        lf, hf, _ = self._open()
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            last, _, _ = self._checked_last(lf, hf)
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)
        return last.state if last is not None else None

    def started(self) -> bool:
        return self.heads_path.exists() and self.heads_path.stat().st_size > 0

    def _append(self, entries: list[dict[str, Any]]) -> list[int]:
        lf, hf, ff = self._open()
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            last, lsize, hsize = self._checked_last(lf, hf)
            if last is None and entries[0].get("kind") != "genesis":
                raise AuditError(f"this workspace has no audit log yet ({self.dir}): a log is started only by "
                                 f"setting up the registry of a new workspace (moneytrail authority init, or "
                                 f"authority import), and nothing is done in a workspace without one")
            if last is None and self._anchor is not None:
                self._anchor(True)              # the workspace records that its log was started
            state = EMPTY_STATE if last is None else last.state
            for e in entries:
                if e.get("kind") == "state":
                    if e.get("prev_state") != state:
                        raise AuditError("an authority-state change does not follow the signed state (changed "
                                         "meanwhile?): nothing recorded")
                    state = e["state"]
            key = keys.signing_key(self.log_id, create=last is None)
            if key is None:
                raise AuditError(f"the audit log's signing key is not at {keys.key_path(self.log_id)}: "
                                 f"restore the key folder ({keys.ENV_KEY_DIR}) that belongs to this workspace")
            if last is None:
                f = Frontier()
                prev, end = ZERO, 0
            else:
                f = self._load_frontier(ff, last)
                prev, end = hashlib.sha256(last.line).hexdigest(), last.end
            ts = now_iso()
            first = f.size
            lines = []
            for i, e in enumerate(entries):
                line = encode_entry(first + i, ts, e)
                f.append(leaf_hash(line))
                lines.append(line)
            data = b"\n".join(lines) + b"\n"
            end += len(data)
            root = f.root()
            sig = key.sign(head_message(self.log_id, f.size, root.hex(), end, ts, prev, state))
            head_line = json.dumps({"size": f.size, "root": root.hex(), "end": end, "ts": ts, "prev": prev,
                                    "state": state, "sig": sig.hex()}, separators=(",", ":")).encode()
            _write_all(lf, data)
            _write_all(hf, head_line + b"\n")
            fr = json.dumps({"size": f.size, "hashes": [h.hex() for h in f.hashes]}, separators=(",", ":")).encode()
            os.pwrite(ff, fr + b" " * (FRONTIER_RECORD - len(fr)), 0)
            if os.environ.get(ENV_FSYNC, "") not in ("", "0"):
                os.fsync(lf)
                os.fsync(hf)
            self._last = Head(f.size, root, end, ts, prev, self.log_id, sig, head_line, state)
            self._frontier = f
            self._ext = self._last.record()
            keys.write_external_head(self.log_id, self._ext)
            self._sizes = (lsize + len(data), hsize + len(head_line) + 1)
            return list(range(first, f.size))
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)

    def _check_tail(self, last: Head | None, log_size: int) -> None:
        if last is None:
            if log_size:
                raise AuditError(f"{self.log_path} holds {log_size} bytes but no signed tree head covers "
                                 f"them: run moneytrail audit verify")
            if self._anchor is not None and self._anchor(False):
                raise AuditError(f"the audit log of this workspace was started but {self.heads_path} is "
                                 f"missing or empty (deleted?): restore the {self.dir.name} folder")
            return
        if log_size > last.end:
            raise AuditError(f"{self.log_path} holds {log_size - last.end} bytes past its last signed tree head: "
                             f"an append was interrupted (moneytrail audit repair removes and keeps them) or "
                             f"entries were added outside moneytrail (moneytrail audit verify)")
        if log_size != last.end:
            raise AuditError(f"{self.log_path} is {log_size} bytes but its last signed head covers {last.end}: "
                             f"the log was changed outside moneytrail; run moneytrail audit verify")

    def _check_external(self, last: Head | None) -> None:
        ext = keys.read_external_head(self.log_id)
        if ext is None:
            if last is not None:
                raise AuditError(f"the signed head kept beside the signing key ({keys.head_path(self.log_id)}) "
                                 f"is missing, so a rolled-back log cannot be ruled out: restore it")
            return
        if ext == self._ext and last is self._last:
            return
        e = Head.parse(ext)
        if last is not None and e.same(last):
            return
        have = last.size if last is not None else 0
        if e.size > have:
            raise AuditError(f"audit log rolled back: the signed head kept beside the key covers {e.size} "
                             f"entries, this workspace's log only {have} (an older copy of the workspace?)")
        match = next((h for h in self.heads() if h.size == e.size), None)
        if match is None or not match.same(e):
            raise AuditError(f"audit log forked: the signed head of size {e.size} kept beside the key is not "
                             f"in this workspace's log (a copy of the workspace was used?)")

    # -- reading entries ----------------------------------------------------------------------------
    def lines(self) -> list[bytes]:
        if not self.log_path.exists():
            return []
        data = self.log_path.read_bytes()
        out = data.split(b"\n")
        if out and out[-1] == b"":
            out.pop()
        return out

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        for line in self.lines()[start:stop]:
            yield json.loads(line)

    def size(self) -> int:
        h = self.last_head()
        return h.size if h else 0

    # -- proofs -------------------------------------------------------------------------------------
    def _tree(self, size: int) -> tuple[Tree, list[bytes]]:
        lines = self.lines()
        if size > len(lines):
            raise AuditError(f"the audit log holds {len(lines)} entries, not {size}")
        return Tree([leaf_hash(l) for l in lines[:size]]), lines

    def inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        """An inclusion proof of entry ``index`` in the tree of ``size`` (default: the latest head)."""
        last = self.last_head()
        size = (last.size if last else 0) if size is None else size
        if not 0 <= index < size:
            raise AuditError(f"no entry {index} in a log of {size} entries (entries are numbered from 0)")
        tree, lines = self._tree(size)
        path = tree.inclusion_path(index, size)
        root = tree.root(size)
        head = next((h for h in self.heads() if h.size == size), None)
        return {"index": index, "tree_size": size, "leaf_hash": leaf_hash(lines[index]).hex(),
                "root": root.hex(), "inclusion_path": [p.hex() for p in path],
                "entry": json.loads(lines[index]),
                "verified": verify_inclusion(index, size, leaf_hash(lines[index]), path, root)
                and (head is None or head.root == root),
                "signed_head": head.to_dict() if head else None}

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        last = self.last_head()
        new = (last.size if last else 0) if new is None else new
        if not 0 < old <= new:
            raise AuditError(f"a consistency proof needs 0 < OLD <= NEW, got {old} and {new} "
                             f"(every log extends the empty one, so size 0 proves nothing)")
        tree, _ = self._tree(new)
        proof = tree.consistency_proof(old, new)
        r1, r2 = tree.root(old), tree.root(new)
        heads = {h.size: h for h in self.heads()}
        ok = verify_consistency(old, new, proof, r1, r2)
        for size, r in ((old, r1), (new, r2)):
            if size in heads and heads[size].root != r:
                ok = False
        return {"old_size": old, "new_size": new, "old_root": r1.hex(), "new_root": r2.hex(),
                "consistency_path": [p.hex() for p in proof], "verified": ok,
                "old_head": heads[old].to_dict() if old in heads else None,
                "new_head": heads[new].to_dict() if new in heads else None}

    # -- repair ------------------------------------------------------------------------------------
    def repair(self) -> dict[str, Any]:
        """Remove what an append that never completed left behind, so that appends can go on.

        An append writes the entries, then their signed head; a crash between the two (or in the
        middle of the head) leaves entries past the last signed head, or a head line without its
        newline, and every later append is refused (fail closed). Nothing in such a remnant was
        acknowledged: the append did not return, so its command did not go on. ``repair`` moves
        exactly that remnant into ``repaired/`` beside the log (kept, never deleted), checks that
        the rest verifies, and returns what it did; anything else wrong with the log (a changed
        or missing signed entry, a rollback) is not a crash remnant and is refused with the
        problem, leaving the files as they were. The caller appends the repair to the log.
        """
        if not self.heads_path.exists() and not self.log_path.exists():
            return {"repaired": False, "why": "the log is empty"}
        lf, hf, ff = self._open()
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            heads_raw = self.heads_path.read_bytes()
            partial = b""
            if heads_raw and not heads_raw.endswith(b"\n"):
                partial = heads_raw[heads_raw.rfind(b"\n") + 1:]
            keep_heads = len(heads_raw) - len(partial)
            line = self._last_line(hf, keep_heads) if keep_heads else None
            try:
                last = Head.parse(line, self.log_id) if line else None
            except (ValueError, KeyError, TypeError):
                raise AuditError("the last complete signed head is not readable: the heads were altered, "
                                 "which is not a crash remnant; nothing repaired (moneytrail audit verify)") from None
            end = last.end if last else 0
            log_size = os.fstat(lf).st_size
            if log_size < end:
                raise AuditError(f"{self.log_path} is {log_size} bytes, shorter than its last signed head covers "
                                 f"({end}): entries were removed, which is not a crash remnant; nothing repaired")
            remnant = os.pread(lf, log_size - end, end) if log_size > end else b""
            if not remnant and not partial:
                return {"repaired": False, "why": "nothing to repair: the log ends at its last signed tree head"}
            saved = self.dir / "repaired"
            saved.mkdir(exist_ok=True)
            stamp = now_iso().replace(":", "")
            out: dict[str, Any] = {"repaired": True, "last_signed_size": last.size if last else 0, "saved": []}
            for name, data in (("log", remnant), ("heads", partial)):
                if data:
                    p = saved / f"{stamp}.{name}.remnant"
                    p.write_bytes(data)
                    out["saved"].append(str(p))
                    out[f"{name}_bytes_removed"] = len(data)
                    out[f"{name}_sha256"] = hashlib.sha256(data).hexdigest()
            out["entries_removed"] = len([x for x in remnant.split(b"\n") if x])
            os.ftruncate(lf, end)
            os.ftruncate(hf, keep_heads)
            self._last, self._sizes, self._frontier, self._ext = None, (-1, -1), None, None
            rep = self.verify()
            if not rep.ok:                      # put everything back as it was
                _write_all(lf, remnant)         # both descriptors append: back at the old ends
                _write_all(hf, partial)
                raise AuditError(f"the log has problems besides a crash remnant ({rep.problems[0]}); "
                                 f"nothing repaired (moneytrail audit verify)")
            return out
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)

    # -- verification ----------------------------------------------------------------------------------
    def verify(self, public_key: str | os.PathLike | None = None) -> VerifyReport:
        """Check the whole log; the report names the first bad entry (see docs/authority.md)."""
        t0 = time.perf_counter()
        pk, pk_from = keys.load_public_key(public_key, self.log_id)
        raw_heads = self.heads_path.read_bytes().splitlines() if self.heads_path.exists() else []
        lines = self.lines()
        rep = VerifyReport(ok=True, entries=len(lines), heads=len(raw_heads), root=EMPTY_ROOT.hex(),
                           public_key=pk_from)
        if not raw_heads and not lines and self._anchor is not None and self._anchor(False):
            rep.problems.append(f"entry 0: the log of this workspace was started but {self.dir} holds no entries "
                                f"(deleted?)")
            rep.first_bad = 0
        if pk is None:
            rep.problems.append(f"no public key: none at {keys.public_key_path(self.log_id)}; pass --public-key")

        # 1. the heads: readable, chained, increasing, sealed by the last one's signature
        heads: list[Head] = []
        prev = ZERO
        for k, line in enumerate(raw_heads):
            try:
                h = Head.parse(line, self.log_id)
            except (ValueError, KeyError, TypeError):
                rep.problems.append(f"signed head {k} is not readable (altered)")
                break
            if h.prev != prev or h.log != self.log_id or (heads and h.size <= heads[-1].size):
                rep.problems.append(f"signed head {k} (size {h.size}) does not follow head {k - 1} "
                                    f"(heads altered, removed or reordered)")
                break
            if h.state is None and k == 0:
                rep.problems.append("the signed heads carry no authority state: this log was written by an earlier "
                                    "moneytrail, so the registry cannot be checked against it")
            heads.append(h)
            prev = hashlib.sha256(line).hexdigest()
        if heads and pk is not None and not heads[-1].signature_ok(pk):
            rep.problems.append(f"the latest signed head (size {heads[-1].size}) has a bad signature")
            # fall back to the longest prefix whose last head is properly signed
            while heads and not heads[-1].signature_ok(pk):
                heads.pop()

        # 2. the entries, against the heads; the authority-state changes replayed as they come
        from moneytrail.authority import state as _state

        f = Frontier()
        hi = 0
        offset = 0
        lo_of_head = 0
        replay: dict = {}
        st_hash = _state.EMPTY_STATE
        st_bad: str | None = None
        for i, line in enumerate(lines):
            if st_bad is None and b'"kind":"state"' in line:
                try:
                    e = json.loads(line)
                except ValueError:
                    e = {}
                if e.get("kind") == "state":
                    why = None
                    if e.get("prev_state") != st_hash:
                        why = "does not follow the state before it"
                    else:
                        why = _state.apply(replay, e.get("ops") or [])
                        if why is None:
                            st_hash = _state.replayed_hash(replay)
                            if st_hash != e.get("state"):
                                why = "does not lead to the state it records"
                    if why:
                        st_bad = f"entry {i}: an authority-state change {why}"
            if not line.startswith(b'{"seq":%d,' % i):
                # the entries since the last confirmed head are not confirmed either: name the first
                rep.first_bad = lo_of_head
                try:
                    got = json.loads(line).get("seq")
                    what = f"holds entry {got}" if got is not None else "has no sequence number"
                except ValueError:
                    what = "is not a log entry"
                also = (f" (entries {lo_of_head}-{i - 1}, signed with it, are not confirmed either)"
                        if i > lo_of_head else "")
                rep.problems.append(f"entry {lo_of_head}: entry {i} {what}: entries were deleted, inserted "
                                    f"or reordered{also}")
                break
            f.append(leaf_hash(line))
            offset += len(line) + 1
            if hi < len(heads) and f.size == heads[hi].size:
                h = heads[hi]
                if f.root() != h.root or offset != h.end:
                    rep.first_bad = lo_of_head
                    span = (f"entry {lo_of_head}" if h.size - lo_of_head == 1
                            else f"entries {lo_of_head}-{h.size - 1} (one of them)")
                    rep.problems.append(f"entry {lo_of_head}: {span} no longer match the signed tree head "
                                        f"of size {h.size} made {h.ts}: changed after it was signed")
                    break
                if st_bad is None and h.state is not None and h.state != st_hash:
                    st_bad = (f"entry {h.size - 1}: the signed tree head of size {h.size} vouches for an authority "
                              f"state the entries do not build")
                lo_of_head = h.size
                hi += 1
        else:
            covered = heads[-1].size if heads else 0
            if len(lines) > covered:
                rep.first_bad = covered
                rep.problems.append(f"entry {covered}: entries {covered}-{len(lines) - 1} are not covered by "
                                    f"any signed tree head (added outside moneytrail)")
            elif heads and len(lines) < heads[-1].size:
                rep.first_bad = len(lines)
                rep.problems.append(f"entry {len(lines)}: missing; the signed tree head of size "
                                    f"{heads[-1].size} covers entries up to {heads[-1].size - 1} "
                                    f"(entries deleted from the end)")
        if rep.first_bad is None:
            rep.root = f.root().hex()
        if not rep.problems and lines and not lines[0].startswith(b'{"seq":0,') or (
                not rep.problems and lines and b'"kind":"genesis"' not in lines[0]):
            rep.problems.append("entry 0: the log does not begin with the genesis entry that starts a workspace's log")
            rep.first_bad = 0
        if st_bad is not None:
            rep.problems.append(st_bad)
            if rep.first_bad is None:
                rep.first_bad = int(st_bad.split(":")[0].split()[1])
        elif not rep.problems and self._ws_state is not None and heads and heads[-1].state is not None:
            # the workspace's registry and sources' authority data, against what the log built
            diff = _state.first_difference(replay, self._ws_state())
            if diff:
                rep.problems.append(f"authority state: {diff}")

        # 3. the head kept beside the key: rollback and fork detection
        ext_raw = keys.read_external_head(self.log_id)
        if ext_raw is None:
            if heads:
                rep.warnings.append(f"no signed head beside the key ({keys.head_path(self.log_id)}): "
                                    f"a rollback to an older copy cannot be ruled out")
        else:
            e = Head.parse(ext_raw)
            rep.external_head = e.size
            if pk is not None and not e.signature_ok(pk):
                rep.problems.append(f"the signed head beside the key ({keys.head_path(self.log_id)}) has a bad signature")
            elif e.size > len(lines) or (heads and e.size > heads[-1].size):
                if rep.first_bad is None or rep.first_bad > min(len(lines), heads[-1].size if heads else 0):
                    rep.first_bad = min(len(lines), heads[-1].size if heads else 0)
                rep.problems.append(f"rolled back: the signed head kept beside the key covers {e.size} entries "
                                    f"(signed {e.ts}) but this log has {len(lines)}; entry {rep.first_bad} "
                                    f"onwards are gone")
            else:
                match = next((h for h in heads if h.size == e.size), None)
                if match is None or not match.same(e):
                    rep.problems.append(f"forked: the signed head of size {e.size} kept beside the key is not "
                                        f"in this log (a different copy of the workspace?)")
        rep.ok = not rep.problems
        rep.seconds = round(time.perf_counter() - t0, 3)
        return rep


def _close_fds(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def workspace_id(ws) -> str:
    wid = ws.__dict__.get("_workspace_id")
    if wid is None:
        wid = ws.scalar("SELECT workspace_id FROM authority_state LIMIT 1")
        if not wid:
            raise AuditError(f"workspace {ws.path} has no id (schema older than 0004?)")
        ws.__dict__["_workspace_id"] = wid
    return wid
