"""Authority: who may do what, on which case, under which grant and legal basis.

The control layer a task force runs under (issue 6; docs/authority.md). Every command that
reads or changes a workspace calls :func:`guard` first::

    from moneytrail.authority import guard
    from moneytrail.audit import record_read

    d = guard(ws, "trace", officer=officer, case=case)   # raises AccessDenied (exit 2) if denied
    rows = ...                                            # read what the command needs
    record_read(ws, officer, d.case, {"table": "balances", "rows": len(rows)})
    print(rows)                                           # only after the read is logged

``guard`` decides with the packaged Cedar policies (``policies/*.cedar``, validated against
``schema.cedarschema``) given the officer, the case, the action and the server's clock; appends
the decision (allowed or denied) to the audit log before returning; and raises
:class:`AccessDenied` naming the policies and grants when denied. The actions are
:data:`ACTIONS`; a command of a new stage uses the closest one (or adds one to the schema and
the ``financial-investigation`` policy).

The registry (agencies, officers, deputization grants, cases, 6103(i) authorities, the grand-jury
disclosure list) is :mod:`moneytrail.authority.registry`; the vocabulary (functions, legal-basis
tags, placeholders) is :mod:`moneytrail.authority.legal`.
"""

from moneytrail.authority.decide import (ACTIONS, CASE_ACTIONS, DATA_ACTIONS, AccessDenied, Decision, PolicyError,
                                         engine, guard)
from moneytrail.authority.legal import FINANCIAL_FUNCTIONS, FUNCTIONS, NON_FINANCIAL_FUNCTIONS, classify_tags
from moneytrail.authority.registry import RegistryError

__all__ = ["ACTIONS", "CASE_ACTIONS", "DATA_ACTIONS", "AccessDenied", "Decision", "FINANCIAL_FUNCTIONS",
           "FUNCTIONS", "NON_FINANCIAL_FUNCTIONS", "PolicyError", "RegistryError", "classify_tags", "engine",
           "guard"]
