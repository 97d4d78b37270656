"""``moneytrail bench resolve``: entity resolution of people on data with ground truth, with a peer.

Protocol (``DIR`` is a copy of the linkage development sets, ``../shared/data/linkage/``):

1. Each people set is read into a private DuckDB connection and its columns mapped to the
   standard party vocabulary of :mod:`moneytrail.resolve.entities` (:data:`DATASETS`; e.g.
   ``birth_place`` -> ``city``, ``postcode_fake`` -> ``postcode``); the truth column
   (``cluster``) is kept apart and never reaches the engine. Nothing else is chosen per set:
   the engine picks its comparisons, blocking and training from the columns present, with its
   defaults (thresholds, seed, sample sizes) for both.
2. ``runs`` times, alternating: moneytrail's :func:`~moneytrail.resolve.entities.resolve_parties`
   (normalisation, training, prediction, clustering: average linkage with a pair at the upper
   threshold, see that module), and the peer: Splink
   with the settings of Splink's own published tutorial for that data set (written here from
   the tutorials' text: ``docs/demos/tutorials/04_Estimating_model_parameters`` and
   ``05_Predicting_results`` for fake_1000, ``docs/demos/examples/duckdb/deduplicate_50k_synthetic``
   for the 50k set; :data:`PEERS`), clustered at the tutorial's threshold.
3. Scores, against the truth: pairwise precision, recall and F1 over the pairs the clusters
   imply (every pair of records in one predicted cluster, against every pair in one true
   cluster), B-cubed precision, recall and F1, the adjusted Rand index; the seconds for
   training and prediction (and the total, normalisation and clustering included).
4. Per side the median and the min–max over the runs; the ratio of the median total seconds
   (moneytrail / peer) and the F1 difference (moneytrail − peer).

With ``moneytrail.resolve.transfers.bench_transfers`` present, its result is added under
``transfers``.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Optional

from moneytrail.sqlkit import ident, lit

# data set -> file and the mapping of its columns to the standard vocabulary (truth apart)
DATASETS: dict[str, dict[str, Any]] = {
    "fake_1000": {
        "file": "fake_1000.csv",
        "columns": {"record_id": "unique_id", "first_name": "first_name", "surname": "surname",
                    "dob": "dob", "city": "city", "email": "email"},
        "truth": "cluster",
    },
    "historical_50k": {
        "file": "historical_figures_with_errors_50k.parquet",
        "columns": {"record_id": "unique_id", "full_name": "full_name", "first_name": "first_name",
                    "surname": "surname", "dob": "dob", "city": "birth_place",
                    "postcode": "postcode_fake", "gender": "gender", "occupation": "occupation"},
        "truth": "cluster",
    },
}

# The peer: Splink configured as its own tutorials do for each set.
PEERS: dict[str, dict[str, Any]] = {
    "fake_1000": {
        "source": "Splink tutorial 04_Estimating_model_parameters + 05_Predicting_results",
        "predict_threshold": 0.1, "cluster_threshold": 0.2,
    },
    "historical_50k": {
        "source": "Splink example duckdb/deduplicate_50k_synthetic",
        "predict_threshold": None, "cluster_threshold": 0.95,
    },
}


def _read_sql(path: Path) -> str:
    p = lit(str(path))
    if path.suffix == ".csv":
        return f"read_csv({p}, header = true, all_varchar = true)"
    return f"read_parquet({p})"


def load(con, name: str, data_dir: Path) -> int:
    """Create ``raw`` (the file as read), ``parties`` (standard columns) and ``truth``
    (record_id, cluster) on ``con``; the number of records."""
    spec = DATASETS[name]
    path = Path(data_dir) / spec["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (bench resolve reads the linkage sets)")
    con.execute(f"CREATE OR REPLACE TABLE raw AS SELECT * FROM {_read_sql(path)}")
    sel = ", ".join(f"{ident(src)} AS {ident(std)}" for std, src in spec["columns"].items())
    con.execute(f"CREATE OR REPLACE TABLE parties AS SELECT {sel} FROM raw")
    con.execute(f"CREATE OR REPLACE TABLE truth AS SELECT {ident(spec['columns']['record_id'])} AS record_id, "
                f"{ident(spec['truth'])} AS cluster FROM raw")
    return con.execute("SELECT count(*) FROM parties").fetchall()[0][0]


def scores(con, clusters) -> dict[str, Any]:
    """Pairwise, B-cubed and adjusted-Rand scores of ``clusters`` (Arrow: record_id, entity_id)
    against the ``truth`` table on ``con``."""
    con.register("__pred", clusters)
    try:
        row = con.execute("""
WITH j AS (SELECT t.record_id, p.entity_id AS p, t.cluster AS t
           FROM truth t JOIN __pred p ON p.record_id = t.record_id),
pt AS (SELECT p, t, count(*) AS n FROM j GROUP BY p, t),
pp AS (SELECT p, count(*) AS n FROM j GROUP BY p),
tt AS (SELECT t, count(*) AS n FROM j GROUP BY t),
b3 AS (SELECT avg(pt.n / pp.n) AS bp, avg(pt.n / tt.n) AS br
       FROM j JOIN pt ON pt.p = j.p AND pt.t = j.t JOIN pp ON pp.p = j.p JOIN tt ON tt.t = j.t)
SELECT (SELECT sum(n * (n - 1) / 2) FROM pt), (SELECT sum(n * (n - 1) / 2) FROM pp),
       (SELECT sum(n * (n - 1) / 2) FROM tt), (SELECT count(*) FROM j), (SELECT bp FROM b3),
       (SELECT br FROM b3), (SELECT count(*) FROM pp), (SELECT count(*) FROM tt)
""").fetchall()[0]
    finally:
        con.unregister("__pred")
    tp, npred, ntrue, n, bp, br, nclusters, ntruth = row
    tp, npred, ntrue = float(tp or 0), float(npred or 0), float(ntrue or 0)
    prec = tp / npred if npred else 1.0
    rec = tp / ntrue if ntrue else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    total = n * (n - 1) / 2
    expected = npred * ntrue / total if total else 0.0
    ari_den = (npred + ntrue) / 2 - expected
    ari = (tp - expected) / ari_den if ari_den else 1.0
    b3f = 2 * bp * br / (bp + br) if bp + br else 0.0
    return {"pairwise": {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                         "true_pairs": int(ntrue), "predicted_pairs": int(npred), "correct_pairs": int(tp)},
            "bcubed": {"precision": round(bp, 4), "recall": round(br, 4), "f1": round(b3f, 4)},
            "adjusted_rand": round(ari, 4), "clusters": int(nclusters), "true_clusters": int(ntruth)}


def run_moneytrail(con, name: str) -> dict[str, Any]:
    from moneytrail.resolve.entities import resolve_parties

    con.execute("CREATE OR REPLACE VIEW party_records AS SELECT * FROM parties")
    t = time.perf_counter()
    res = resolve_parties(con, "party_records")
    total = time.perf_counter() - t
    out = scores(con, res.clusters)
    out["seconds"] = {**res.seconds, "total": round(total, 3)}
    out["pairs_kept"] = res.pairs.num_rows
    out["merge_pairs"] = sum(1 for d in res.pairs.column("decision").to_pylist() if d == "merge")
    out["settings"] = {k: v for k, v in res.settings.items() if k != "plan"}
    return out


def _peer_linker(con, name: str):
    """Splink set up as its tutorial for ``name`` does (settings written from the tutorial)."""
    import splink.comparison_library as cl
    from splink import ColumnExpression, DuckDBAPI, Linker, SettingsCreator, block_on

    db_api = DuckDBAPI(connection=con)
    if name == "fake_1000":
        con.execute("CREATE OR REPLACE TABLE peer_in AS SELECT * EXCLUDE (cluster) FROM raw")
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[
                cl.NameComparison("first_name"),
                cl.NameComparison("surname"),
                cl.LevenshteinAtThresholds(ColumnExpression("dob").cast_to_string(), 1),
                cl.ExactMatch("city").configure(term_frequency_adjustments=True),
                cl.EmailComparison("email"),
            ],
            blocking_rules_to_generate_predictions=[block_on("first_name", "city"), block_on("surname")],
            retain_intermediate_calculation_columns=True,
        )
        linker = Linker(db_api.register("peer_in"), settings, log_level=None)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "dob"), "l.first_name = r.first_name and levenshtein(r.surname, l.surname) <= 2",
             block_on("email")], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
        return linker
    rules = [
        block_on("substr(first_name,1,3)", "substr(surname,1,4)"),
        block_on("surname", "dob"),
        block_on("first_name", "dob"),
        block_on("postcode_fake", "first_name"),
        block_on("postcode_fake", "surname"),
        block_on("dob", "birth_place"),
        block_on("substr(postcode_fake,1,3)", "dob"),
        block_on("substr(postcode_fake,1,3)", "first_name"),
        block_on("substr(postcode_fake,1,3)", "surname"),
        block_on("substr(first_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
    ]
    con.execute("CREATE OR REPLACE TABLE peer_in AS SELECT * EXCLUDE (cluster), "
                "first_name || ' ' || surname AS first_name_surname_concat FROM raw")
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.ForenameSurnameComparison("first_name", "surname",
                                         forename_surname_concat_col_name="first_name_surname_concat"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            cl.ExactMatch("birth_place").configure(term_frequency_adjustments=True),
            cl.ExactMatch("occupation").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker(db_api.register("peer_in"), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"),
         block_on("substr(first_name,1,2)", "surname", "substr(postcode_fake,1,2)"),
         block_on("dob", "postcode_fake")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"), estimate_without_term_frequencies=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob"), estimate_without_term_frequencies=True)
    return linker


def run_peer(name: str, data_dir: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    try:
        load(con, name, data_dir)
        peer = PEERS[name]
        t = time.perf_counter()
        linker = _peer_linker(con, name)
        t_train = time.perf_counter() - t
        t1 = time.perf_counter()
        pred = linker.inference.predict(threshold_match_probability=peer["predict_threshold"])
        t_pred = time.perf_counter() - t1
        t2 = time.perf_counter()
        cl = linker.clustering.cluster_pairwise_predictions_at_threshold(
            pred, threshold_match_probability=peer["cluster_threshold"])
        clusters = con.sql(f"SELECT unique_id AS record_id, cluster_id AS entity_id FROM {cl.physical_name}").to_arrow_table()
        t_cl = time.perf_counter() - t2
        total = time.perf_counter() - t
        out = scores(con, clusters)
        out["seconds"] = {"train": round(t_train, 3), "predict": round(t_pred, 3), "cluster": round(t_cl, 3),
                          "total": round(total, 3)}
        out["settings"] = {"source": peer["source"], "cluster_threshold": peer["cluster_threshold"],
                           "predict_threshold": peer["predict_threshold"]}
        return out
    finally:
        con.close()


def _ours(name: str, data_dir: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    try:
        n = load(con, name, data_dir)
        out = run_moneytrail(con, name)
        out["records"] = n
        return out
    finally:
        con.close()


def _summary(runs: list[dict]) -> dict[str, Any]:
    last = dict(runs[-1])
    tot = [r["seconds"]["total"] for r in runs]
    last["runs"] = len(runs)
    last["seconds_total"] = {"median": round(statistics.median(tot), 3), "min": round(min(tot), 3),
                             "max": round(max(tot), 3)}
    for part in ("train", "predict"):
        xs = [r["seconds"].get(part) for r in runs if r["seconds"].get(part) is not None]
        if xs:
            last["seconds_" + part] = {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3),
                                       "max": round(max(xs), 3)}
    f1s = [r["pairwise"]["f1"] for r in runs]
    last["f1_min_max"] = [min(f1s), max(f1s)]
    return last


def bench_resolve(data_dir: Path, *, datasets: Optional[list[str]] = None, runs: int = 1,
                  peer: bool = True, transfers: bool = True) -> dict[str, Any]:
    """Run the protocol above; the result as a JSON-able dict."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    data_dir = Path(data_dir)
    names = datasets or list(DATASETS)
    for n in names:
        if n not in DATASETS:
            raise ValueError(f"unknown data set {n!r}: choose from {', '.join(DATASETS)}")
    res: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "data": str(data_dir), "datasets": {},
    }
    for name in names:
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(_ours(name, data_dir))
            if peer:
                theirs.append(run_peer(name, data_dir))
        row: dict[str, Any] = {"moneytrail": _summary(ours)}
        row["records"] = ours[-1].pop("records", None)
        row["moneytrail"].pop("records", None)
        if peer:
            row["peer"] = _summary(theirs)
            a, b = row["moneytrail"]["seconds_total"]["median"], row["peer"]["seconds_total"]["median"]
            row["ratio_seconds_moneytrail_to_peer"] = round(a / b, 3) if b else None
            row["f1_difference_moneytrail_minus_peer"] = round(
                row["moneytrail"]["pairwise"]["f1"] - row["peer"]["pairwise"]["f1"], 4)
        res["datasets"][name] = row
    if transfers:
        try:
            from moneytrail.resolve.transfers import bench_transfers  # written apart (issue 14 item 4)

            res["transfers"] = bench_transfers(data_dir)
        except (ImportError, AttributeError):
            res["transfers"] = None
    return res
