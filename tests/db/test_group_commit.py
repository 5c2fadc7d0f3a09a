"""Group commit on SQLite: questions of one loop turn share one COMMIT; each fails alone; a
failed COMMIT fails them all and writes nothing; no result before its COMMIT."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, text

from vigie.db.engine import Unit, make_engine, write_transaction
from vigie.db.group_commit import GroupCommit


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'group.db'}", pool_size=2, wait_seconds=0.2)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE entry (id INTEGER PRIMARY KEY, parent INTEGER"
            " REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.exec_driver_sql("INSERT INTO parent (id) VALUES (1)")
    yield engine
    engine.dispose()


def commits(engine: Engine) -> list[int]:
    counted: list[int] = []
    event.listen(engine, "commit", lambda _conn: counted.append(1))
    return counted


def stored(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT id FROM entry ORDER BY id"))]


def insert(
    engine: Engine, entry: int, *, parent: int = 1, fail: bool = False, unit: Unit
) -> tuple[int, int]:
    with unit(engine) as conn:
        values = {"i": entry, "p": parent}
        conn.execute(text("INSERT INTO entry (id, parent) VALUES (:i, :p)"), values)
        if fail:
            raise LookupError("this question fails after writing")
        return entry, _count(conn)


def _count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM entry")).scalar_one())


async def ask_together(
    group: GroupCommit, engine: Engine, *questions: dict[str, int | bool]
) -> list[object]:
    async def one(question: dict[str, int | bool]) -> object:
        ask = functools.partial(
            insert, parent=int(question.get("parent", 1)), fail=bool(question.get("fail"))
        )
        return await group.run(ask, engine, int(question["entry"]))

    return await asyncio.gather(*(one(dict(q)) for q in questions), return_exceptions=True)


def test_questions_of_one_turn_share_one_commit(engine: Engine) -> None:
    counted = commits(engine)
    group = GroupCommit(engine)
    results = asyncio.run(ask_together(group, engine, {"entry": 1}, {"entry": 2}, {"entry": 3}))
    # Each saw the writes of those before it in the group: one transaction.
    assert results == [(1, 1), (2, 2), (3, 3)]
    assert len(counted) == 1 and stored(engine) == [1, 2, 3]
    asyncio.run(ask_together(group, engine, {"entry": 4}))
    assert len(counted) == 2 and stored(engine) == [1, 2, 3, 4]


def test_a_failing_question_fails_alone_and_leaves_nothing(engine: Engine) -> None:
    group = GroupCommit(engine)
    results = asyncio.run(
        ask_together(group, engine, {"entry": 1}, {"entry": 2, "fail": True}, {"entry": 3})
    )
    assert results[0] == (1, 1) and results[2] == (3, 2)
    assert isinstance(results[1], LookupError)
    assert stored(engine) == [1, 3]


def test_a_failed_commit_fails_every_question_and_writes_nothing(engine: Engine) -> None:
    group = GroupCommit(engine)
    # A dangling reference, checked only at COMMIT (deferred): the shared COMMIT fails.
    results = asyncio.run(
        ask_together(group, engine, {"entry": 1}, {"entry": 2, "parent": 99}, {"entry": 3})
    )
    assert all(isinstance(result, Exception) for result in results), results
    assert stored(engine) == []
    assert asyncio.run(ask_together(group, engine, {"entry": 5})) == [(5, 1)]  # usable again


def test_no_result_before_its_commit(engine: Engine) -> None:
    counted = commits(engine)
    group = GroupCommit(engine)
    seen: list[int] = []

    async def main() -> None:
        async def one(entry: int) -> None:
            await group.run(insert, engine, entry)
            seen.append(len(counted))  # commits done when this question got its result

        await asyncio.gather(one(1), one(2))

    asyncio.run(main())
    assert seen == [1, 1]


def test_a_busy_store_fails_the_question_and_keeps_the_group_usable(engine: Engine) -> None:
    group = GroupCommit(engine)
    url = engine.url.database
    assert url is not None
    other = sqlite3.connect(url, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        results = asyncio.run(ask_together(group, engine, {"entry": 1}))
        assert isinstance(results[0], Exception)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert asyncio.run(ask_together(group, engine, {"entry": 2})) == [(2, 1)]
    assert stored(engine) == [2]


def test_another_write_on_the_loop_commits_the_open_group_first(engine: Engine) -> None:
    group = GroupCommit(engine)

    async def main() -> tuple[int, int]:
        question = asyncio.ensure_future(group.run(insert, engine, 1))
        await asyncio.sleep(0)  # the question ran: its group is open, its COMMIT not yet run
        with write_transaction(engine) as conn:  # on the loop's thread: would wait forever
            conn.execute(text("INSERT INTO entry (id, parent) VALUES (2, 1)"))
        return await question

    assert asyncio.run(main()) == (1, 1)
    assert stored(engine) == [1, 2]


def test_a_question_may_not_open_a_transaction_of_its_own(engine: Engine) -> None:
    group = GroupCommit(engine)

    def nested(engine: Engine, *, unit: Unit) -> None:
        with unit(engine) as conn, write_transaction(engine):
            conn.execute(text("INSERT INTO entry (id, parent) VALUES (1, 1)"))

    with pytest.raises(RuntimeError, match="transaction of its own"):
        asyncio.run(group.run(nested, engine))
    assert stored(engine) == []
