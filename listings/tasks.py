"""Background jobs of stays (API.md, Background work), run by `python manage.py worker`.

Each is queued by `listings.booking` through `core.background.defer`, in the
transaction of the change that calls for it, and takes the stay's id as a string
(job arguments are JSON). The work itself is in `listings.booking`, which checks the
stay's state first: a job that runs late or twice does nothing twice.
"""

from __future__ import annotations

from django_tasks import task

from listings import booking


@task()
def reservation_expire_job(reservation_id: str) -> None:
    """At `expires_at`: an unanswered request becomes expired."""
    booking.reservation_expire(reservation_id=reservation_id)


@task()
def checkin_post_job(reservation_id: str) -> None:
    """`CHECKIN_DETAILS_LEAD` before check-in: the details go into the thread."""
    booking.checkin_post(reservation_id=reservation_id)


@task()
def checkin_remove_job(reservation_id: str) -> None:
    """The day after the stay: the details' words are removed everywhere."""
    booking.checkin_remove(reservation_id=reservation_id)
