"""`python manage.py worker`: runs the background work, whichever backend is configured.

Operators and tests start the worker by this one name; it hands over to the backend's
own worker (django-tasks-db's `db_worker`, or RQ's `rqworker` with its scheduler, so
jobs with `run_after` run on time on Redis too).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the background worker (emails, request expiry, check-in details)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between polls of the database queue when it is empty (default 1).",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run what is due now, then exit (database backend).",
        )

    def handle(self, *args: Any, interval: float, batch: bool, **options: Any) -> None:
        if settings.TASKS_BACKEND == "redis":
            call_command("rqworker", "default", with_scheduler=True, burst=batch)
            return
        call_command(
            "db_worker",
            queue_name="*",
            interval=interval,
            batch=batch,
            reload=False,
            startup_delay=False,
            verbosity=options.get("verbosity", 1),
        )
