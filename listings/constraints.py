"""The PostgreSQL-only rule "no two confirmed stays of one property share a night".

It lives outside `Reservation.Meta.constraints` on purpose: an exclusion constraint
is PostgreSQL SQL, and in Meta it would break table creation on SQLite and make
`Model.full_clean()` (the admin) run range operators SQLite does not have. The
migration adds it through `AddConstraintOnPostgres`, which does nothing elsewhere;
other databases get the same guarantee from a serialised write in
`listings.booking` (and `Reservation.clean` gives the admin a readable error).

Only confirmed stays are covered (a partial constraint, `WHERE status = 'confirmed'`):
requests may overlap each other and confirmed stays until one of them is confirmed.
Migration 0002 added the first version, over every stay; 0004 replaces it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.db.migrations.operations.base import Operation
from django.db.models import Func, Q

# The first version (every stay) and today's (confirmed stays only).
NO_OVERLAP_ALL_NAME = "reservation_no_overlap"
NO_OVERLAP_NAME = "reservation_confirmed_no_overlap"


class DateRange(Func):
    """`daterange(start, end, '[)')`: half-open, so checkout day is free for the next guest."""

    function = "DATERANGE"
    output_field = DateRangeField()


def no_overlapping_stays(*, confirmed_only: bool = True) -> ExclusionConstraint:
    """Today's constraint; `confirmed_only=False` is migration 0002's, over every stay."""
    return ExclusionConstraint(
        name=NO_OVERLAP_NAME if confirmed_only else NO_OVERLAP_ALL_NAME,
        expressions=[
            (DateRange("start_date", "end_date", RangeBoundary()), RangeOperators.OVERLAPS),
            ("property", RangeOperators.EQUAL),
        ],
        condition=Q(status="confirmed") if confirmed_only else None,
    )


def database_enforces_no_overlap(vendor: str) -> bool:
    return vendor == "postgresql"


class AddConstraintOnPostgres(Operation):
    """Add a constraint on PostgreSQL only, without recording it in the model state.

    Keeping it out of the state keeps `makemigrations` quiet (the model does not
    declare it) and keeps Django from validating it in Python on other databases.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, constraint: Any) -> None:
        self.model_name = model_name
        self.constraint = constraint

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if database_enforces_no_overlap(schema_editor.connection.vendor):
            model = to_state.apps.get_model(app_label, self.model_name)
            schema_editor.add_constraint(model, self.constraint)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if database_enforces_no_overlap(schema_editor.connection.vendor):
            model = from_state.apps.get_model(app_label, self.model_name)
            schema_editor.remove_constraint(model, self.constraint)

    def describe(self) -> str:
        return f"Add {self.constraint.name} to {self.model_name} on PostgreSQL"

    def deconstruct(self) -> tuple[str, list, dict]:
        kwargs = {"model_name": self.model_name, "constraint": self.constraint}
        return (self.__class__.__name__, [], kwargs)


class RemoveConstraintOnPostgres(AddConstraintOnPostgres):
    """The reverse of `AddConstraintOnPostgres`: drop it on PostgreSQL, add it back on undo."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        super().database_backwards(app_label, schema_editor, to_state, from_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        super().database_forwards(app_label, schema_editor, to_state, from_state)

    def describe(self) -> str:
        return f"Remove {self.constraint.name} from {self.model_name} on PostgreSQL"
