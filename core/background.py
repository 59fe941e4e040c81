"""Handing work to the background worker (API.md, "Background work").

Jobs are django-tasks `Task`s (`@task` in an app's `tasks.py`). `defer` is the one way
services queue them, so that a job is never queued for a change that is then rolled
back: on the database backend the job's row is written in the caller's transaction
(both commit or neither does, and nothing is lost between the commit and the queueing);
on any other backend (Redis) it is queued once the transaction has committed.

Scheduled work is a job with `run_after` (an expiry at its due time, an email after its
delay): no periodic loop. A job may run late or, after a worker died mid-way, again:
jobs check the state they act on and do nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django_tasks import task_backends
from django_tasks.base import Task
from django_tasks_db import DatabaseBackend


def defer(job: Task, *args: Any, run_after: datetime | None = None, **kwargs: Any) -> None:
    """Queue `job(*args, **kwargs)` to run in the worker, at `run_after` at the earliest."""
    if run_after is not None:
        job = job.using(run_after=run_after)
    if isinstance(task_backends[job.backend], DatabaseBackend):
        job.enqueue(*args, **kwargs)
    else:
        transaction.on_commit(partial(job.enqueue, *args, **kwargs))
