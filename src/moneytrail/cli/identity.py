"""The CLI's side of identity: ``--as OFFICER`` and ``--case CASE`` may stand anywhere on the
command line, so :func:`extract_global_options` takes them out of argv before typer parses it;
``moneytrail.cli.main.main`` hands them, with the command line, to the app as its context
object (:class:`GlobalOptions`, ``ctx.obj``), and a command turns them into a
:class:`moneytrail.identity.Identity` with :func:`identity` (the library resolves the rest:
``$MONEYTRAIL_OFFICER``, ``$MONEYTRAIL_CASE``, the configuration file). Nothing is kept in the
process between commands: two commands run in one process each act as their own officer.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.identity import Identity, resolve


@dataclass(frozen=True)
class GlobalOptions:
    """What the command line said: ``--as``, ``--case`` and the command line itself (recorded
    with every decision the command takes)."""

    as_officer: str | None = None
    case: str | None = None
    command: tuple[str, ...] = ()


def extract_global_options(argv: list[str]) -> tuple[list[str], GlobalOptions]:
    """Take ``--as X`` / ``--as=X`` and ``--case X`` / ``--case=X`` out of ``argv`` wherever they are
    (before a ``--``); return the rest and what they said (the command line is the rest, after
    ``moneytrail``). A trailing option without its value is left for the parser to report."""
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
    return out, GlobalOptions(found["as"], found["case"], ("moneytrail", *out))


def options(ctx) -> GlobalOptions:
    """The command's global options (a typer context's object; none given: empty)."""
    found = ctx.find_object(GlobalOptions) if ctx is not None else None
    return found or GlobalOptions()


def identity(ctx) -> Identity:
    """Who the command acts as: ``--as`` (else the environment or the configuration), in ``--case``
    (else the environment, the configuration, or the officer's one open case), through this
    command line. No officer: IdentityError."""
    o = options(ctx)
    return resolve(o.as_officer, o.case, command=o.command, officer_origin="--as", case_origin="--case")
