"""Identity is resolved in the library and handed on explicitly (issue 11, item 5): no module keeps
who is acting, or the command line, in process-global state; the CLI passes ``--as``, ``--case``
and its command line to the Session it opens; two Sessions in one process each record their own
officer and command."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import moneytrail
from moneytrail import Session
from moneytrail.audit import AuditLog
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import DEMO_REGISTRAR as REG
from moneytrail.demo import setup_demo_authority
from moneytrail.workspace import Workspace

SRC = Path(moneytrail.__file__).parent
IDENTITY_NAME = re.compile(r"officer|case|command|argv|identity|actor|global|who|as_", re.I)
MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "ContextVar"}


def _mutable(value: ast.AST | None) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        f = value.func
        return (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "") in MUTABLE_CALLS
    return False


def _modules():
    for p in sorted(SRC.rglob("*.py")):
        yield p.relative_to(SRC), ast.parse(p.read_text(encoding="utf-8"))


def test_no_module_keeps_identity_in_process_global_state():
    found = []
    for rel, tree in _modules():
        for node in tree.body:          # module-level mutable containers named for an identity
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            for t in targets:
                if isinstance(t, ast.Name) and IDENTITY_NAME.search(t.id) and _mutable(node.value):
                    found.append(f"{rel}: {t.id} = ...")
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):   # a function rebinding a module's identity
                found += [f"{rel}: global {n}" for n in node.names if IDENTITY_NAME.search(n)]
            # ... or writing it where every later call would find it: the environment
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ" \
                            and re.search(r"OFFICER|CASE|CONFIG", ast.unparse(t.slice)):
                        found.append(f"{rel}: {ast.unparse(t)} = ...")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                    "os.environ.setdefault", "os.environ.update", "os.putenv"):
                found.append(f"{rel}: {ast.unparse(node.func)}(...)")
    assert found == []
    # what the CLI and the decision layer used to keep
    import moneytrail.authority.decide as decide
    import moneytrail.cli.identity as cli_identity

    for mod, names in ((cli_identity, ("_GLOBAL", "set_global", "current_officer", "current_case", "authorize")),
                       (decide, ("_COMMAND", "set_command"))):
        assert not [n for n in names if hasattr(mod, n)], mod.__name__


def test_nothing_outside_the_session_and_the_authority_layer_decides():
    """The CLI and the demo call only Session for anything decided (the benchmarks time guard)."""
    registry = ast.parse((SRC / "authority" / "registry.py").read_text(encoding="utf-8"))
    decided = {f.name for f in registry.body if isinstance(f, ast.FunctionDef)
               and any(isinstance(n, ast.Call) and ast.unparse(n.func) == "guard" for n in ast.walk(f))}
    assert {"init_registry", "import_taskforce", "add_grant", "open_case", "case_view"} <= decided
    calls = []
    for rel, tree in _modules():
        if rel.parts[0] in ("authority", "bench") or rel.name == "session.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func).rsplit(".", 1)[-1]
                if name in ("guard", "decide", "authorize", "record_read"):
                    calls.append(f"{rel}:{node.lineno}: {name}")
            if isinstance(node, ast.ImportFrom) and node.module == "moneytrail.authority.registry":
                calls += [f"{rel}:{node.lineno}: {a.name}" for a in node.names if a.name in decided]
    assert calls == []


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    return p


def _decisions(path: Path) -> list[dict]:
    with Workspace.open(path) as ws:
        return [e for e in AuditLog.of(ws).entries() if e["kind"] == "decision"]


def test_two_sessions_in_one_process_each_record_their_own_officer_and_command(path):
    a = Session.open(path, officer=AN, case=CASE, command=["moneytrail", "sources"])
    b = Session.open(path, officer=REG, command=["moneytrail", "authority", "list"])
    c = Session.open(path, officer=AN, case=CASE)                       # from Python: no command line
    try:
        n = len(_decisions(path))
        a.sources()
        b.registry()
        c.sources()
        a.findings()
        b.cases()
    finally:
        for s in (a, b, c):
            s.close()
    got = [(e["officer"], e["action"], e.get("command")) for e in _decisions(path)[n:]]
    assert got == [(AN, "sources", ["moneytrail", "sources"]),
                   (REG, "registry_read", ["moneytrail", "authority", "list"]),
                   (AN, "sources", None),
                   (AN, "findings", ["moneytrail", "sources"]),
                   (REG, "registry_read", ["moneytrail", "authority", "list"])]


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    from moneytrail.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["moneytrail", *argv])
    with pytest.raises(SystemExit) as ex:
        cli_main.main()
    out, err = capsys.readouterr()
    return ex.value.code, out, err


def test_the_cli_passes_its_identity_explicitly_and_keeps_none_of_it(path, monkeypatch, capsys):
    """Commands run one after another in one process: each acts as its own --as, records its own
    command line, and the next one without --as has no officer (nothing was kept)."""
    w = ("-w", str(path))
    assert _main(monkeypatch, capsys, "sources", *w, "--as", AN, "--case", CASE)[0] == 0
    assert _main(monkeypatch, capsys, "--as", REG, "case", "list", *w)[0] == 0
    code, out, err = _main(monkeypatch, capsys, "sources", *w)
    assert code == 2 and err.startswith("error: no acting officer") and err.count("\n") == 1
    code, out, err = _main(monkeypatch, capsys, "sources", *w, "--as", AN)     # nor is the case kept
    assert code == 0
    last = _decisions(path)[-3:]
    assert [(e["officer"], e["action"], e["case"], e["command"]) for e in last] == [
        (AN, "sources", CASE, ["moneytrail", "sources", *w]),
        (REG, "registry_read", None, ["moneytrail", "case", "list", *w]),
        (AN, "sources", CASE, ["moneytrail", "sources", *w])]     # the officer's one open case


def test_a_bad_id_names_where_it_came_from(path, monkeypatch, capsys):
    code, _, err = _main(monkeypatch, capsys, "sources", "-w", str(path), "--as", "a b")
    assert code == 2 and "officer 'a b' from --as is not an id" in err
    code, _, err = _main(monkeypatch, capsys, "sources", "-w", str(path), "--as", AN, "--case=C 1")
    assert code == 2 and "case 'C 1' from --case is not an id" in err
    code, _, err = _main(monkeypatch, capsys, "case", "show", "C 1", "-w", str(path), "--as", AN)
    assert code == 2 and "case 'C 1' from the case given is not an id" in err
