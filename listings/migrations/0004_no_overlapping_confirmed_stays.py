"""Confirmed stays only: the exclusion constraint becomes partial (`WHERE status = 'confirmed'`).

Requests may now overlap each other and confirmed stays until one is confirmed, so
0002's constraint over every stay is dropped and the partial one added (PostgreSQL
only; see listings.constraints). Existing stays became `confirmed` in 0003, so the
new constraint holds for them as the old one did.
"""

from django.db import migrations

from listings.constraints import (
    AddConstraintOnPostgres,
    RemoveConstraintOnPostgres,
    no_overlapping_stays,
)


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0003_stay_status_instant_book_checkin"),
    ]

    operations = [
        RemoveConstraintOnPostgres("reservation", no_overlapping_stays(confirmed_only=False)),
        AddConstraintOnPostgres("reservation", no_overlapping_stays()),
    ]
