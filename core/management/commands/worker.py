"""`python manage.py worker`: runs the background work, whichever backend is configured.

Operators and tests start the worker by this one name; it hands over to the backend's
own worker (django-tasks-db's, or RQ's `rqworker` with its scheduler, so jobs with
`run_after` run on time on Redis too).
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.management.commands import db_worker

logger = logging.getLogger("django_tasks_db")


class GracefulWorker(db_worker.Worker):
    """django-tasks-db's worker, stopping between polls on SIGTERM or Ctrl-C.

    The library's handler raises SystemExit wherever the signal lands. Landing while a
    query was in flight, the transaction around the poll then failed to end: exit
    status 1 and a traceback instead of a clean stop (seen in CI, about 1 stop in 15 on
    PostgreSQL). Here the first signal only ends the loop: the current poll or task
    finishes, a sleep between polls runs out (`--interval`). A second signal stops at
    once, as the library's does.
    """

    @classmethod
    def for_every_queue(cls, *, interval: float, batch: bool) -> GracefulWorker:
        """What `db_worker --queue-name '*'` would run, without its autoreloader."""
        return cls(
            queue_names=["*"],
            interval=interval,
            batch=batch,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if not self.running:
            super().shutdown(signum, frame)
            return
        logger.warning("Received %s - stopping after this poll.", signal.strsignal(signum))
        self.running = False


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
        db_worker.Command(stdout=self.stdout, stderr=self.stderr).configure_logging(
            options.get("verbosity", 1)
        )
        worker = GracefulWorker.for_every_queue(interval=interval, batch=batch)
        worker.configure_signals()
        worker.run()
