"""Human-trafficking finance red flags computable from transactions and account metadata."""

from __future__ import annotations

from moneytrail.detect.base import Typology

TRAFFICKING: tuple[Typology, ...] = ()
