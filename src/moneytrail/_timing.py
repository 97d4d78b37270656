"""Where a request's time goes: the web app asks each page for the time spent deciding (Cedar and
the decision's audit entry) and recording reads, and reports it in a ``Server-Timing`` header
(what the load benchmark reads). Per thread; nothing is measured unless a caller started it."""

from __future__ import annotations

import threading
import time
from typing import Any

_local = threading.local()


def start() -> None:
    _local.t = {"authz_s": 0.0, "decisions": 0, "audit_s": 0.0, "reads": 0, "wait_s": 0.0, "t0": time.perf_counter()}


def add(kind: str, seconds: float) -> None:
    d = getattr(_local, "t", None)
    if d is not None:
        if kind == "authz":
            d["authz_s"] += seconds
            d["decisions"] += 1
        elif kind == "wait":
            d["wait_s"] += seconds
        else:
            d["audit_s"] += seconds
            d["reads"] += 1


def take() -> dict[str, Any] | None:
    d = getattr(_local, "t", None)
    _local.t = None
    if d is not None:
        d["total_s"] = time.perf_counter() - d.pop("t0")
    return d
