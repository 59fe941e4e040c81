"""The PostgreSQL-only rule "no two stays of one property share a night".

It lives outside `Reservation.Meta.constraints` on purpose: an exclusion constraint
is PostgreSQL SQL, and in Meta it would break table creation on SQLite and make
`Model.full_clean()` (the admin) run range operators SQLite does not have. The
migration adds it through `AddConstraintOnPostgres`, which does nothing elsewhere;
other databases get the same guarantee from a serialised write in
`listings.services.book` (and `Reservation.clean` gives the admin a readable error).
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.db.migrations.operations.base import Operation
from django.db.models import Func

NO_OVERLAP_NAME = "reservation_no_overlap"


class DateRange(Func):
    """`daterange(start, end, '[)')`: half-open, so checkout day is free for the next guest."""

    function = "DATERANGE"
    output_field = DateRangeField()


def no_overlapping_stays() -> ExclusionConstraint:
    return ExclusionConstraint(
        name=NO_OVERLAP_NAME,
        expressions=[
            (DateRange("start_date", "end_date", RangeBoundary()), RangeOperators.OVERLAPS),
            ("property", RangeOperators.EQUAL),
        ],
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
