"""Employer-finance typologies (issue 17): over ``payroll_lines``, ``wage_reports`` and the bank
transactions. Filled in by the employer work; see docs/typologies.md."""

from __future__ import annotations

from moneytrail.detect.base import Typology

EMPLOYER: tuple[Typology, ...] = ()
