"""No two stays of one property share a night, enforced by PostgreSQL itself.

Both operations are no-ops on other databases (BtreeGistExtension checks the
vendor itself; see listings.constraints for AddConstraintOnPostgres). btree_gist
lets the GiST index behind the exclusion constraint compare the property id with `=`.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from listings.constraints import AddConstraintOnPostgres, no_overlapping_stays


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0001_initial"),
    ]

    operations = [
        BtreeGistExtension(),
        AddConstraintOnPostgres(
            "reservation", no_overlapping_stays(confirmed_only=False)
        ),
    ]
