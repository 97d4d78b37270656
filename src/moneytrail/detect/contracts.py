"""Government-contract oversight typologies (issue 17): over ``awards``, ``payments``, ``vendors``
and ``officials`` (migration 0014). Filled in by the contracts work; see docs/typologies.md."""

from __future__ import annotations

from moneytrail.detect.base import Typology

CONTRACTS: tuple[Typology, ...] = ()
