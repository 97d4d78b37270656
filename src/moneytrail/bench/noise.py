"""``moneytrail bench noise``: does detection degrade gracefully when the data is noisier?

Protocol: from an AMLSim-layout folder (``transactions``, ``accounts``, ``alert_transactions``,
``alert_accounts``), write a perturbed copy (:func:`perturb`), seeded, then run ``bench
detect`` on the original and on the copy and report, per alert type, recall and precision on
both and the ratio of the recalls. The perturbation, each part a parameter:

* **drop** a share of the transfers (``drop``, default 5 %), laundering or not, chosen at random;
  their labels go with them (a transfer the bank never reported is not evidence);
* **jitter** every remaining transfer's time by up to ``jitter_days`` either way (uniform, to
  the second), so same-day order and day boundaries move;
* **add** unrelated traffic: ``add`` times as many new transfers (default 5 %) between accounts
  of the set chosen at random, at random times within the set's period, with amounts drawn
  from the set's own amounts; none is laundering.

Nothing here reads a typology's parameters or a dataset's ids: the same protocol runs on any
folder in the layout.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from moneytrail.errors import InputError

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _read(folder: Path, name: str) -> pa.Table:
    for p in (folder / f"{name}.csv.gz", folder / f"{name}.csv"):
        if p.exists():
            return pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(
                column_types={"tran_id": pa.int64(), "orig_acct": pa.string(), "bene_acct": pa.string(),
                              "acct_id": pa.string(), "tran_timestamp": pa.string(), "is_sar": pa.string()}))
    raise InputError(f"{name}.csv[.gz] not found", path=str(folder))


def _write(tbl: pa.Table, path: Path) -> None:
    import gzip

    with gzip.open(path, "wb") as fh:
        pacsv.write_csv(tbl, fh, write_options=pacsv.WriteOptions(quoting_style="none"))


def perturb(src: str | Path, out: str | Path, *, seed: int = 0, drop: float = 0.05, jitter_days: float = 1.0,
            add: float = 0.05) -> dict[str, Any]:
    """Write the perturbed copy of ``src`` into ``out`` (created); returns what was done."""
    src, out = Path(src), Path(out)
    if not 0 <= drop < 1 or not 0 <= add <= 10 or not 0 <= jitter_days <= 365:
        raise ValueError("drop in [0, 1), add in [0, 10], jitter_days in [0, 365]")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tx = _read(src, "transactions")
    n = tx.num_rows
    keep = rng.random(n) >= drop
    tx = tx.filter(pa.array(keep))
    ts = pc.strptime(tx["tran_timestamp"], format=TS_FORMAT, unit="s").cast(pa.int64()).to_numpy()
    span = int(jitter_days * 86400)
    moved = ts + (rng.integers(-span, span + 1, size=len(ts)) if span else 0)
    # added traffic: random pairs of the set's accounts, random times, the set's own amounts
    accounts = _read(src, "accounts")["acct_id"].to_numpy(zero_copy_only=False)
    n_add = int(round(add * n))
    a = rng.integers(0, len(accounts), size=n_add)
    b = (a + rng.integers(1, len(accounts), size=n_add)) % len(accounts)      # never the same account
    amounts = tx["base_amt"].to_numpy()
    new_ts = rng.integers(int(ts.min()), int(ts.max()) + 1, size=n_add) if n_add else np.array([], np.int64)
    first_new = int(pc.max(tx["tran_id"]).as_py() or 0) + 1
    added = pa.table({
        "tran_id": pa.array(np.arange(first_new, first_new + n_add), pa.int64()),
        "orig_acct": pa.array(accounts[a], pa.string()),
        "bene_acct": pa.array(accounts[b], pa.string()),
        "tx_type": pa.array(["TRANSFER"] * n_add, pa.string()),
        "base_amt": pa.array(amounts[rng.integers(0, len(amounts), size=n_add)] if n_add else [],
                             tx.schema.field("base_amt").type),
        "tran_timestamp": pa.array(new_ts, pa.int64()),
        "is_sar": pa.array(["False"] * n_add, pa.string()),
        "alert_id": pa.array([-1] * n_add, tx.schema.field("alert_id").type),
    })
    kept = tx.set_column(tx.schema.get_field_index("tran_timestamp"), "tran_timestamp", pa.array(moved, pa.int64()))
    both = pa.concat_tables([kept.select(added.column_names), added])
    order = np.lexsort((both["tran_id"].to_numpy(), both["tran_timestamp"].to_numpy()))
    both = both.take(pa.array(order))
    stamp = pc.strftime(both["tran_timestamp"].cast(pa.timestamp("s")), format=TS_FORMAT)
    both = both.set_column(both.schema.get_field_index("tran_timestamp"), "tran_timestamp", stamp)
    _write(both, out / "transactions.csv.gz")
    # labels of the kept transfers, with their new times
    alerts = _read(src, "alert_transactions")
    when = dict(zip(kept["tran_id"].to_pylist(), moved.tolist()))
    mask = pa.array([t in when for t in alerts["tran_id"].to_pylist()])
    alerts = alerts.filter(mask)
    at = pa.array([when[t] for t in alerts["tran_id"].to_pylist()], pa.int64()).cast(pa.timestamp("s"))
    alerts = alerts.set_column(alerts.schema.get_field_index("tran_timestamp"), "tran_timestamp",
                               pc.strftime(at, format=TS_FORMAT))
    _write(alerts, out / "alert_transactions.csv.gz")
    for name in ("accounts", "alert_accounts", "sar_accounts"):
        for suffix in (".csv.gz", ".csv"):
            p = src / f"{name}{suffix}"
            if p.exists():
                shutil.copyfile(p, out / p.name)
    return {"transfers": n, "dropped": int(n - keep.sum()), "added": n_add, "jitter_days": jitter_days,
            "labeled_kept": alerts.num_rows, "seed": seed}


def bench_noise(data: str | Path, *, seed: int = 0, drop: float = 0.05, jitter_days: float = 1.0,
                add: float = 0.05, workdir: str | Path | None = None) -> dict[str, Any]:
    """``bench detect`` on ``data`` and on its perturbed copy; per alert type both figures and
    ``recall_ratio`` (perturbed / original)."""
    from moneytrail.bench.detect import bench_detect

    data = Path(data)
    if not data.is_dir():
        raise InputError("dataset folder not found", path=str(data))
    with tempfile.TemporaryDirectory(prefix="moneytrail-noise-", dir=workdir) as tmp:
        noisy = Path(tmp) / "perturbed"
        done = perturb(data, noisy, seed=seed, drop=drop, jitter_days=jitter_days, add=add)
        before = bench_detect(data, workdir=tmp)["typologies"]
        after = bench_detect(noisy, workdir=tmp)["typologies"]
    out: dict[str, Any] = {"perturbation": done, "typologies": {}}
    for t, r in before.items():
        a = after.get(t, {})
        out["typologies"][t] = {
            "recall": r["recall"], "precision": r["precision"],
            "recall_perturbed": a.get("recall"), "precision_perturbed": a.get("precision"),
            "recall_ratio": round(a["recall"] / r["recall"], 3) if r["recall"] and a.get("recall") is not None
            else None}
    return out


__all__ = ["bench_noise", "perturb"]
