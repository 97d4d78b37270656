"""Who is acting, and in which case: one place for every command to ask.

The acting officer is, in order: ``--as OFFICER`` (anywhere on the command line),
``$MONEYTRAIL_OFFICER``, ``officer = "..."`` in the configuration file. The case likewise:
``--case CASE``, ``$MONEYTRAIL_CASE``, ``case = "..."``; with none of them, the one open case
the officer is a member of (decided and recorded by :func:`moneytrail.authority.guard`).

The configuration file is ``$MONEYTRAIL_CONFIG``, else ``$XDG_CONFIG_HOME/moneytrail/config.toml``,
else ``~/.config/moneytrail/config.toml``::

    officer = "analyst-1"
    case = "OP-DEMO"        # optional

A command that reads or changes a workspace calls :func:`authorize` (or :func:`current_officer`
and :func:`moneytrail.authority.guard` itself); with no identity it is refused before the
workspace is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moneytrail.errors import MoneytrailError

ENV_OFFICER = "MONEYTRAIL_OFFICER"
ENV_CASE = "MONEYTRAIL_CASE"
ENV_CONFIG = "MONEYTRAIL_CONFIG"

_GLOBAL: dict[str, str | None] = {"as": None, "case": None}


class IdentityError(MoneytrailError):
    """No acting officer could be determined (or the configuration file is unreadable)."""


def set_global(as_officer: str | None = None, case: str | None = None) -> None:
    """Set by the CLI from ``--as`` / ``--case`` wherever they stood on the command line."""
    _GLOBAL["as"] = as_officer
    _GLOBAL["case"] = case


def config_path() -> Path:
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "moneytrail" / "config.toml"


def read_config() -> dict[str, Any]:
    p = config_path()
    if not p.is_file():
        return {}
    import tomllib
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise IdentityError(f"{p}: not a valid TOML configuration file: {' '.join(str(e).split())}") from None
    return data if isinstance(data, dict) else {}


def _valid(value: str, what: str, origin: str) -> str:
    from moneytrail.authority.legal import ID_RE

    v = value.strip()
    if not ID_RE.fullmatch(v):
        shown = repr(v[:40]) + ("..." if len(v) > 40 else "")
        raise IdentityError(f"{what} {shown} from {origin} is not an id: 1-64 letters, digits and . _ : / - "
                            f"(no blanks or control characters)")
    return v


def current_officer(as_option: str | None = None, *, required: bool = True) -> str | None:
    """The acting officer: ``as_option`` / ``--as``, then $MONEYTRAIL_OFFICER, then the config file.
    An officer id is an id (:data:`moneytrail.authority.legal.ID_RE`): anything else is refused."""
    for v, origin in ((as_option, "the officer given"), (_GLOBAL["as"], "--as"),
                      (os.environ.get(ENV_OFFICER), f"${ENV_OFFICER}")):
        if v and v.strip():
            return _valid(v, "officer", origin)
    v = read_config().get("officer")
    if isinstance(v, str) and v.strip():
        return _valid(v, "officer", str(config_path()))
    if required:
        raise IdentityError(f"no acting officer: every command that reads or changes a workspace needs one; "
                            f"pass --as OFFICER, set {ENV_OFFICER}, or put officer = \"ID\" in {config_path()}")
    return None


def current_case(case_option: str | None = None) -> str | None:
    """The case: ``case_option`` / ``--case``, then $MONEYTRAIL_CASE, then the config file; else None
    (the guard then uses the officer's only open case)."""
    for v, origin in ((case_option, "the case given"), (_GLOBAL["case"], "--case"),
                      (os.environ.get(ENV_CASE), f"${ENV_CASE}")):
        if v and v.strip():
            return _valid(v, "case", origin)
    v = read_config().get("case")
    return _valid(v, "case", str(config_path())) if isinstance(v, str) and v.strip() else None


def authorize(ws, action: str, *, resource: dict[str, Any] | None = None, officer: str | None = None,
              case: str | None = None):
    """:func:`moneytrail.authority.guard` for the acting officer and case; returns the Decision
    (``.officer``, ``.case``: pass them to :func:`moneytrail.audit.record_read`)."""
    from moneytrail.authority import guard
    return guard(ws, action, officer=officer or current_officer(), case=current_case(case), resource=resource)


def extract_global_options(argv: list[str]) -> list[str]:
    """Take ``--as X`` / ``--as=X`` and ``--case X`` / ``--case=X`` out of ``argv`` wherever they are
    (before a ``--``), record them, and return the rest. A trailing option without its value is left
    for the parser to report."""
    out: list[str] = []
    found: dict[str, str | None] = {"as": None, "case": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out += argv[i:]
            break
        name = next((n for n in ("as", "case") if a == f"--{n}" or a.startswith(f"--{n}=")), None)
        if name is None:
            out.append(a)
            i += 1
            continue
        if "=" in a:
            found[name] = a.split("=", 1)[1]
            i += 1
        elif i + 1 < len(argv):
            found[name] = argv[i + 1]
            i += 2
        else:
            out.append(a)
            i += 1
    set_global(found["as"], found["case"])
    return out
