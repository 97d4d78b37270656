"""Readers of the formats banks send (issue 13), one module each: ``camt``, ``mt940``, ``bai2``,
``ofx``. Each has ``sniff(head: bytes) -> bool`` (does a file starting with these bytes look like
this format) and ``read(path) -> Iterator[Statement | Entry | Bad]`` (see
:mod:`moneytrail.ingest.statement`), and ``write(records, fh)``, which writes records back out
in the format (the demo's banks and the benchmarks' generated files use it)."""
