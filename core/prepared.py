"""A queryset whose SQL is built once per database connection, for the hottest reads.

Django builds a query's SQL anew on every evaluation; for the lock a message send
takes (a conversation, both users, a block check) that building cost about ten times
the statement's execution (bench/README.md, "The send path"). `Prepared` compiles the
queryset once per connection with a marker value, then runs the same SQL with the
value asked for, and makes the instances as Django's own `ModelIterable` does
(`select_related` objects and annotations included): the ORM still writes the query.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)

_MARKER = uuid.UUID(int=0x5EED)  # a value no row has: where the looked-up value goes


@dataclass
class _Plan:
    sql: str
    params: list[Any]
    slot: int
    converters: dict[int, Any]
    init_list: list[str]
    fields: tuple[int, int]
    populators: list[Any]
    annotations: dict[str, int]
    compiler: Any
    model: type[Model]


class Prepared(Generic[M]):
    """`build(value)` is the queryset (one row at most) for `value` of the UUID `field`."""

    def __init__(self, build: Callable[[uuid.UUID], QuerySet[M]], field: Field) -> None:
        self.build, self.field = build, field
        self._plans: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()

    def get(self, value: Any, using: str = "default") -> M | None:
        """The one instance for `value`, or None. Inside a transaction if it locks."""
        connection = connections[using]
        plan = self._plans.get(connection) or self._compile(connection, using)
        params = list(plan.params)
        params[plan.slot] = self.field.get_db_prep_value(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if plan.converters:
            row = next(iter(plan.compiler.apply_converters([row], plan.converters)))
        start, end = plan.fields
        obj = plan.model.from_db(using, plan.init_list, row[start:end])
        for populator in plan.populators:
            populator.populate(row, obj)
        for name, position in plan.annotations.items():
            setattr(obj, name, row[position])
        return obj

    def _compile(self, connection: Any, using: str) -> _Plan:
        queryset = self.build(_MARKER)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        marker = self.field.get_db_prep_value(_MARKER, connection)
        slots = [i for i, param in enumerate(params) if param == marker]
        if len(slots) != 1:
            raise ValueError(f"the value must appear once in the query's parameters: {slots}")
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        plan = _Plan(
            sql=sql,
            params=list(params),
            slot=slots[0],
            converters=compiler.get_converters([s[0] for s in select[: compiler.col_count]]),
            init_list=[s[0].target.attname for s in select[start:end]],
            fields=(start, end),
            populators=get_related_populators(klass_info, select, using),
            annotations=dict(compiler.annotation_col_map or {}),
            compiler=compiler,
            model=queryset.model,
        )
        self._plans[connection] = plan
        return plan
