"""Who is acting, and in which case: resolved once, into an :class:`Identity` value that is
handed on explicitly (nothing here keeps state between calls).

The acting officer is, in order: the officer given (the CLI's ``--as OFFICER``, wherever it
stood on the command line; ``Session.open(officer=...)``), ``$MONEYTRAIL_OFFICER``,
``officer = "..."`` in the configuration file. The case likewise: the case given (``--case``,
``case=``), ``$MONEYTRAIL_CASE``, ``case = "..."``; with none of them, the one open case the
officer is a member of (decided, per command, by :func:`moneytrail.authority.guard`).

The configuration file is ``$MONEYTRAIL_CONFIG``, else ``$XDG_CONFIG_HOME/moneytrail/config.toml``,
else ``~/.config/moneytrail/config.toml``::

    officer = "analyst-1"
    case = "OP-DEMO"        # optional

Officer and case ids are ids (:data:`moneytrail.authority.legal.ID_RE`): anything else (a
newline, an escape sequence) is refused before anything happens. With no officer at all, a
:class:`moneytrail.Session` is refused before its workspace is opened.

``Identity.command`` is the command line the identity acts through (the CLI's argv; empty from
Python): every decision the session takes records it in the audit log (redacted where it names
a taxpayer: :func:`moneytrail.authority.decide.guard`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from moneytrail.errors import MoneytrailError

ENV_OFFICER = "MONEYTRAIL_OFFICER"
ENV_CASE = "MONEYTRAIL_CASE"
ENV_CONFIG = "MONEYTRAIL_CONFIG"


class IdentityError(MoneytrailError):
    """No acting officer could be determined (or the configuration file is unreadable, or an
    officer or case given is not an id)."""


@dataclass(frozen=True)
class Identity:
    """An acting officer, the case asked for (None: the officer's one open case), and the
    command line they act through (recorded with every decision)."""

    officer: str
    case: str | None = None
    command: tuple[str, ...] = ()


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


def check_id(value: str, what: str, origin: str) -> str:
    """``value`` stripped, if it is an id; else IdentityError naming ``what`` and where it came from."""
    from moneytrail.authority.legal import ID_RE

    v = value.strip()
    if not ID_RE.fullmatch(v):
        shown = repr(v[:40]) + ("..." if len(v) > 40 else "")
        raise IdentityError(f"{what} {shown} from {origin} is not an id: 1-64 letters, digits and . _ : / - "
                            f"(no blanks or control characters)")
    return v


def resolve_officer(given: str | None = None, *, origin: str = "the officer given",
                    required: bool = True) -> str | None:
    """The acting officer: ``given`` (named ``origin`` in errors, e.g. ``--as``), then
    $MONEYTRAIL_OFFICER, then the configuration file; none: :class:`IdentityError` (or None when
    not ``required``)."""
    for v, where in ((given, origin), (os.environ.get(ENV_OFFICER), f"${ENV_OFFICER}")):
        if v and v.strip():
            return check_id(v, "officer", where)
    v = read_config().get("officer")
    if isinstance(v, str) and v.strip():
        return check_id(v, "officer", str(config_path()))
    if required:
        raise IdentityError(f"no acting officer: every command that reads or changes a workspace needs one; "
                            f"pass --as OFFICER, set {ENV_OFFICER}, or put officer = \"ID\" in {config_path()}")
    return None


def resolve_case(given: str | None = None, *, origin: str = "the case given") -> str | None:
    """The case: ``given``, then $MONEYTRAIL_CASE, then the configuration file; else None (the
    decision then uses the officer's only open case)."""
    for v, where in ((given, origin), (os.environ.get(ENV_CASE), f"${ENV_CASE}")):
        if v and v.strip():
            return check_id(v, "case", where)
    v = read_config().get("case")
    return check_id(v, "case", str(config_path())) if isinstance(v, str) and v.strip() else None


def resolve(officer: str | None = None, case: str | None = None, *, command: Sequence[str] = (),
            officer_origin: str = "the officer given", case_origin: str = "the case given") -> Identity:
    """The :class:`Identity` for the officer and case given (each else from the environment or
    the configuration file): the officer first, so that no identity is refused before anything
    else is looked at."""
    who = resolve_officer(officer, origin=officer_origin)
    return Identity(who, resolve_case(case, origin=case_origin), tuple(command))


__all__ = ["ENV_CASE", "ENV_CONFIG", "ENV_OFFICER", "Identity", "IdentityError", "check_id", "config_path", "read_config",
           "resolve", "resolve_case", "resolve_officer"]
