"""Vigie benchmarks: HTTP eligibility throughput against a bare FastAPI baseline, and rights import.

Run with ``make bench`` (or ``.venv/bin/python -m bench.run --help``). Results go to
``bench/results/``: one JSON file of raw data per run and ``latest.md``, a Markdown summary.
"""
