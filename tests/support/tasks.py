"""A job for the worker tests: it leaves a line in a file, so its runs can be counted."""

from pathlib import Path

from django_tasks import task


@task()
def note_run(path: str, text: str) -> None:
    with Path(path).open("a") as f:
        f.write(text + "\n")
