"""`bot.storage.sql.render` / `bind`: one statement with `:name` parameters, two drivers."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage.sql import bind, render


def test_sqlite_takes_question_marks_in_order_and_a_repeated_name_twice() -> None:
    text, names = render("UPDATE t SET a = :x, b = :y WHERE c = :x", "sqlite")
    assert text == "UPDATE t SET a = ?, b = ? WHERE c = ?"
    assert names == ("x", "y", "x")


def test_postgres_numbers_each_name_once_and_reuses_its_number() -> None:
    text, names = render("UPDATE t SET a = :x, b = :y WHERE c = :x", "postgres")
    assert text == "UPDATE t SET a = $1, b = $2 WHERE c = $1"
    assert names == ("x", "y")


def test_casts_and_string_literals_are_not_parameters() -> None:
    sql = "SELECT :at::timestamptz, '12:30 :not_me', 'it''s :quoted', x::text FROM t"
    text, names = render(sql, "postgres")
    assert text == "SELECT $1::timestamptz, '12:30 :not_me', 'it''s :quoted', x::text FROM t"
    assert names == ("at",)


def test_bind_orders_the_arguments_for_each_driver() -> None:
    sql = "SELECT :b AS b, :a AS a, :b AS again"
    assert bind(sql, "sqlite", {"a": 1, "b": 2}) == ("SELECT ? AS b, ? AS a, ? AS again", (2, 1, 2))
    assert bind(sql, "postgres", {"a": 1, "b": 2}) == (
        "SELECT $1 AS b, $2 AS a, $1 AS again",
        (2, 1),
    )


def test_bound_statement_runs_on_sqlite() -> None:
    text, args = bind("SELECT :b - :a, :a", "sqlite", {"a": 1, "b": 5})
    assert sqlite3.connect(":memory:").execute(text, args).fetchone() == (4, 1)


@pytest.mark.parametrize(
    ("params", "problem"),
    [({"a": 1}, "missing ['b']"), ({"a": 1, "b": 2, "c": 3}, "unused ['c']")],
)
def test_bind_refuses_a_missing_or_unused_name(params: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        bind("SELECT :a, :b", "sqlite", params)
