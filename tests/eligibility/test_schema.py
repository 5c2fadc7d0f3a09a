"""The agreement tables as migrated: their ids are indexed, and carry no foreign keys (each
would lock a parent row per agreement on PostgreSQL: see vigie.eligibility.models)."""

from __future__ import annotations

from sqlalchemy import inspect

from vigie.runtime import Runtime


def test_agreements_and_their_lines_have_indexed_ids_and_no_foreign_keys(runtime: Runtime) -> None:
    schema = inspect(runtime.engine)
    for table in ("agreements", "agreement_lines"):
        assert schema.get_foreign_keys(table) == [], table
    indexed = {
        table: {tuple(ix["column_names"]) for ix in schema.get_indexes(table)}
        for table in ("agreements", "agreement_lines")
    }
    assert {("beneficiary_id",), ("professional_id",)} <= indexed["agreements"]
    assert {("agreement_id",), ("beneficiary_id",)} <= indexed["agreement_lines"]
