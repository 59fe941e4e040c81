"""Statements written out for a hot path, with rows read and written as the ORM would.

For a small statement, the ORM spends longer building it and its result than the
database takes to run it: measured in process, reading a conversation with both of its
users through `raw()` took 180 us, of which SQLite ran 30, and `objects.create()` of a
message 140 us, of which the INSERT was 25 (bench/README.md). Sending a message is such
a path, once per message. These helpers keep the ORM's meaning without its building:

- `select_list` names a model's columns in field order, for a SELECT written out;
- `instance` turns such a row into a model instance the way a queryset does (each
  column through the backend's and the field's converters, then `Model.from_db`);
- `insert` writes a new instance with one INSERT of its fields' database values.

Everything else in stayhub goes through the ORM. What the ORM would do around a save
is not done here: no `pre_save`/`post_save` signals, no expressions as values, and
the primary key must be set before saving (UUID keys are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


@dataclass(frozen=True)
class _Shape:
    """A model's concrete fields as one connection reads and writes them."""

    attnames: tuple[str, ...]
    columns: tuple[str, ...]  # quoted
    table: str  # quoted
    # (position, converters, the column expression they expect), for converted fields only
    converters: tuple[tuple[int, tuple[Converter, ...], Any], ...]


# Per connection object (one per thread and alias): converters are its backend's methods.
_shapes: WeakKeyDictionary[BaseDatabaseWrapper, dict[type[Model], _Shape]] = WeakKeyDictionary()


def _shape(model: type[Model], connection: BaseDatabaseWrapper) -> _Shape:
    known = _shapes.setdefault(connection, {})
    shape = known.get(model)
    if shape is None:
        opts, q = model._meta, connection.ops.quote_name
        fields = opts.concrete_fields
        converters = []
        for position, field in enumerate(fields):
            column = field.get_col(opts.db_table)
            # The order SQLCompiler.get_converters uses: the backend's, then the field's.
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if found:
                converters.append((position, tuple(found), column))
        shape = known[model] = _Shape(
            attnames=tuple(field.attname for field in fields),
            columns=tuple(q(field.column) for field in fields),
            table=q(opts.db_table),
            converters=tuple(converters),
        )
    return shape


def select_list(model: type[Model], alias: str, using: str = "default") -> str:
    """`alias."col1", alias."col2", ...`: every concrete column, in the order `instance` reads."""
    return ", ".join(f"{alias}.{column}" for column in _shape(model, connections[using]).columns)


def instance(model: type[M], row: Sequence[Any], using: str = "default") -> M:
    """The instance a queryset would make of `row` (columns as `select_list` names them)."""
    connection = connections[using]
    shape = _shape(model, connection)
    values = list(row)
    for position, converters, column in shape.converters:
        value = values[position]
        for convert in converters:
            value = convert(value, column, connection)
        values[position] = value
    return model.from_db(using, shape.attnames, values)


def insert(obj: Model, using: str = "default") -> None:
    """INSERT `obj` (a new instance, primary key set) as `save(force_insert=True)` writes it."""
    if obj.pk is None:
        raise ValueError("insert() needs the primary key set before saving.")
    connection = connections[using]
    shape = _shape(type(obj), connection)
    fields = obj._meta.concrete_fields
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    marks = ", ".join(["%s"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {shape.table} ({', '.join(shape.columns)}) VALUES ({marks})",  # noqa: S608 (names, not input)
            values,
        )
    obj._state.adding = False
    obj._state.db = using
