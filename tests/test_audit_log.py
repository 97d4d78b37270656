"""The audit log: appends, signed tree heads, proofs, and tamper detection.

Every kind of tampering the issue names is tried at many positions: changing, deleting,
inserting or reordering an entry, truncating the log, and rolling the whole log back to an
older copy. ``verify`` must fail and name the first bad entry; an append onto a rolled-back or
altered log must be refused.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from moneytrail.audit import AuditError, AuditLog, append, audit_dir, keys, record_read, start_log
from moneytrail.audit.merkle import leaf_hash, mth, verify_consistency, verify_inclusion
from moneytrail.workspace import Workspace

N = 60


@pytest.fixture
def logged(tmp_path):
    """A workspace whose log has N single-entry appends (the genesis entry that starts it, then
    reads), then one append of 5 entries."""
    ws = Workspace.open(tmp_path / "case.duckdb")
    start_log(ws, "officer-0")
    for i in range(1, N):
        record_read(ws, f"officer-{i % 3}", "C-1", {"table": "findings", "rows": i})
    AuditLog.of(ws).append([{"kind": "read", "officer": "o", "case": "C-1", "what": {"batch": j}} for j in range(5)])
    yield ws
    ws.close()


def lines(ws):
    return AuditLog.of(ws).log_path.read_bytes().splitlines(keepends=True)


def write_lines(ws, ls):
    AuditLog.of(ws).log_path.write_bytes(b"".join(ls))


def fresh(ws) -> AuditLog:
    """The log as a new command sees it (no cached state)."""
    ws.__dict__.pop("_audit_log", None)
    return AuditLog.of(ws)


def test_intact_log_verifies_and_entries_are_canonical(logged):
    rep = fresh(logged).verify()
    assert rep.ok and rep.entries == N + 5 and rep.heads == N + 1 and rep.external_head == N + 5, rep
    ls = [l.rstrip(b"\n") for l in lines(logged)]
    assert rep.root == mth([leaf_hash(l) for l in ls]).hex()
    for i, l in enumerate(ls):
        e = json.loads(l)
        assert l.startswith(b'{"seq":%d,"ts":"' % i) and e["seq"] == i
        rest = {k: v for k, v in e.items() if k not in ("seq", "ts")}
        assert l.endswith(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()[1:])


def test_appends_survive_reopening(logged, tmp_path):
    path = logged.path
    logged.close()
    with Workspace.open(path) as ws:
        assert append(ws, {"kind": "note", "text": "after reopening"}) == N + 5
        assert fresh(ws).verify().ok


@pytest.mark.parametrize("k", [0, 1, 7, N // 2, N - 1])
def test_changed_entry_is_named(logged, k):
    ls = lines(logged)
    ls[k] = ls[k].replace(b'"officer":"officer-', b'"officer":"offic3r-')
    write_lines(logged, ls)
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == k, rep.problems
    assert "changed after it was signed" in rep.problems[0]


def test_change_inside_a_multi_entry_append_names_its_first_entry(logged):
    ls = lines(logged)
    ls[N + 3] = ls[N + 3].replace(b'"batch":3', b'"batch":4')
    write_lines(logged, ls)
    rep = fresh(logged).verify()
    assert rep.first_bad == N and f"entries {N}-{N + 4} (one of them)" in rep.problems[0]


@pytest.mark.parametrize("k", [0, 5, N - 1])
def test_deleted_entry_is_named(logged, k):
    ls = lines(logged)
    del ls[k]
    write_lines(logged, ls)
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == k and f"holds entry {k + 1}" in rep.problems[0]


@pytest.mark.parametrize("k", [0, 9, N])
def test_inserted_entry_is_named(logged, k):
    ls = lines(logged)
    forged = b'{"seq":%d,"ts":"2020-01-01T00:00:00.000000Z","kind":"read","officer":"nobody"}\n' % k
    ls.insert(k, forged)
    write_lines(logged, ls)
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == k


@pytest.mark.parametrize("k", [0, 11, N - 2])
def test_reordered_entries_are_named(logged, k):
    ls = lines(logged)
    ls[k], ls[k + 1] = ls[k + 1], ls[k]
    write_lines(logged, ls)
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == k


def test_renumbered_reorder_is_caught_by_the_signed_heads(logged):
    ls = lines(logged)
    a, b = json.loads(ls[3]), json.loads(ls[4])
    a["seq"], b["seq"] = 4, 3     # swap the entries and fix their numbers: the hashes no longer match
    from moneytrail.audit.log import encode_entry
    ls[3], ls[4] = encode_entry(3, b["ts"], b) + b"\n", encode_entry(4, a["ts"], a) + b"\n"
    write_lines(logged, ls)
    assert fresh(logged).verify().first_bad == 3


def test_property_any_single_byte_change_is_detected_at_its_entry(logged):
    orig = lines(logged)
    rnd = random.Random(11)
    for _ in range(25):
        k = rnd.randrange(N)          # single-entry appends: the named entry is exact
        line = bytearray(orig[k])
        j = rnd.randrange(len('{"seq":%d,' % k), len(line) - 2)
        line[j] = (line[j] + rnd.randrange(1, 20)) % 128 or 65
        if bytes(line) == orig[k]:
            continue
        write_lines(logged, orig[:k] + [bytes(line)] + orig[k + 1:])
        rep = fresh(logged).verify()
        assert not rep.ok and rep.first_bad == k, (k, rep.problems)
    write_lines(logged, orig)
    assert fresh(logged).verify().ok


def test_truncated_log_is_named_and_refuses_appends(logged):
    ls = lines(logged)
    write_lines(logged, ls[:-7])
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == N + 5 - 7
    with pytest.raises(AuditError, match="changed outside moneytrail"):
        fresh(logged).append([{"kind": "x"}])


def test_unsigned_tail_is_named(logged):
    with open(AuditLog.of(logged).log_path, "ab") as f:
        f.write(b'{"seq":%d,"ts":"2020-01-01T00:00:00.000000Z","kind":"forged"}\n' % (N + 5))
    rep = fresh(logged).verify()
    assert rep.first_bad == N + 5 and "not covered by any signed tree head" in rep.problems[0]
    with pytest.raises(AuditError):
        fresh(logged).append([{"kind": "x"}])


def test_rollback_to_an_older_copy_is_detected(logged, tmp_path):
    folder = audit_dir(logged.path)
    shutil.copytree(folder, tmp_path / "older")          # a backup at size N + 5
    for i in range(4):
        record_read(logged, "o", "C-1", {"more": i})
    shutil.rmtree(folder)
    shutil.copytree(tmp_path / "older", folder)          # put the older log back
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == N + 5 and "rolled back" in rep.problems[0]
    with pytest.raises(AuditError, match="rolled back"):
        fresh(logged).append([{"kind": "x"}])


def test_deleting_the_whole_log_folder_is_detected(logged):
    shutil.rmtree(audit_dir(logged.path))
    with pytest.raises(AuditError, match="was started"):      # the workspace remembers it had a log
        fresh(logged).append([{"kind": "x"}])
    rep = fresh(logged).verify()
    assert not rep.ok and rep.first_bad == 0 and "rolled back" in " ".join(rep.problems)
    log_id = AuditLog.of(logged).log_id
    keys.head_path(log_id).unlink()                      # and the witness beside the key too
    with pytest.raises(AuditError, match="was started"):
        fresh(logged).append([{"kind": "x"}])


def test_altered_or_removed_heads_are_detected(logged):
    heads = AuditLog.of(logged).heads_path
    hl = heads.read_bytes().splitlines(keepends=True)
    h = json.loads(hl[10])
    h["root"] = "00" * 32
    hl[10] = json.dumps(h, separators=(",", ":")).encode() + b"\n"
    heads.write_bytes(b"".join(hl))
    rep = fresh(logged).verify()
    assert not rep.ok and "signed head 11" in " ".join(rep.problems)
    del hl[10]
    heads.write_bytes(b"".join(hl))
    assert not fresh(logged).verify().ok


def test_missing_external_head_refuses_appends_and_warns(logged):
    keys.head_path(AuditLog.of(logged).log_id).unlink()
    rep = fresh(logged).verify()
    assert rep.ok and "rollback" in rep.warnings[0]
    with pytest.raises(AuditError, match="missing"):
        fresh(logged).append([{"kind": "x"}])


def test_wrong_public_key_fails(logged):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    rep = fresh(logged).verify(other)
    assert not rep.ok and "bad signature" in " ".join(rep.problems)


def test_inclusion_and_consistency_proofs_check_against_the_signed_heads(logged):
    log = fresh(logged)
    heads = {h.size: h for h in log.heads()}
    for k in (0, 1, 13, N - 1, N + 4):
        p = log.inclusion(k)
        assert p["verified"] and p["tree_size"] == N + 5
        assert verify_inclusion(k, p["tree_size"], bytes.fromhex(p["leaf_hash"]),
                                [bytes.fromhex(x) for x in p["inclusion_path"]], heads[N + 5].root)
        assert p["entry"]["seq"] == k
    for old, new in ((1, 2), (7, 33), (N, N + 5), (33, 33)):
        c = log.consistency(old, new)
        assert c["verified"] and c["old_root"] == heads[old].root.hex() and c["new_root"] == heads[new].root.hex()
        assert verify_consistency(old, new, [bytes.fromhex(x) for x in c["consistency_path"]],
                                  heads[old].root, heads[new].root)
    with pytest.raises(AuditError, match="size 0 proves nothing"):
        log.consistency(0, 5)
    with pytest.raises(AuditError, match="no entry"):
        log.inclusion(N + 5)


def test_consecutive_signed_heads_are_consistent(logged):
    log = fresh(logged)
    hs = log.heads()
    for a, b in zip(hs, hs[1:]):
        c = log.consistency(a.size, b.size)
        assert verify_consistency(a.size, b.size, [bytes.fromhex(x) for x in c["consistency_path"]], a.root, b.root)


# -- repair after a crash mid-append -------------------------------------------------------------------

def _crash_after_entries(ws) -> bytes:
    """What an append leaves when it dies after writing its entries, before their signed head."""
    remnant = b'{"seq":%d,"ts":"2026-01-01T00:00:00.000000Z","kind":"read","officer":"o"}\n' % (N + 5)
    with open(AuditLog.of(ws).log_path, "ab") as f:
        f.write(remnant)
    return remnant


def test_repair_removes_what_a_crashed_append_left_and_keeps_it(logged):
    remnant = _crash_after_entries(logged)
    with open(AuditLog.of(logged).heads_path, "ab") as f:     # and a head torn mid-write
        f.write(b'{"size":66,"root":"ab')
    with pytest.raises(AuditError):
        fresh(logged).append([{"kind": "x"}])                  # fail closed until repaired
    res = fresh(logged).repair()
    assert res["repaired"] and res["entries_removed"] == 1 and res["log_bytes_removed"] == len(remnant)
    assert res["heads_bytes_removed"] == len(b'{"size":66,"root":"ab')
    saved = sorted(res["saved"])
    assert [open(p, "rb").read() for p in saved if p.endswith(".log.remnant")] == [remnant]
    log = fresh(logged)
    assert log.verify().ok
    seq = log.append([{"kind": "repair", "what": res}])[0]
    assert seq == N + 5 and fresh(logged).verify().ok
    assert fresh(logged).repair() == {"repaired": False,
                                      "why": "nothing to repair: the log ends at its last signed tree head"}


def test_repair_refuses_anything_that_is_not_a_crash_remnant(logged):
    ls = lines(logged)
    # a signed entry changed, plus a remnant: refused, and the files are left exactly as they were
    ls[3] = ls[3].replace(b"officer-0", b"officer-9")
    write_lines(logged, ls)
    _crash_after_entries(logged)
    log = fresh(logged)
    before = (log.log_path.read_bytes(), log.heads_path.read_bytes())
    with pytest.raises(AuditError, match="problems besides a crash remnant.*entry 3"):
        log.repair()
    assert (log.log_path.read_bytes(), log.heads_path.read_bytes()) == before
    # entries removed from the end are not a crash remnant either
    write_lines(logged, lines(logged)[:-9])
    with pytest.raises(AuditError, match="shorter than its last signed head"):
        fresh(logged).repair()
