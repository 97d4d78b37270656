"""Flow typologies: rapid pass-through, structuring, funnel accounts (cash)."""

from __future__ import annotations

from moneytrail.detect.base import Typology

FLOW: tuple[Typology, ...] = ()
