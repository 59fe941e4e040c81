"""What queueing the unread-message email costs a message send, in process (SQLite).

    .venv/bin/python bench/notify_cost.py                  # ~20 s
    .venv/bin/python bench/notify_cost.py --rounds 21 --batch 200

Every message sent queues its email job (a row in django-tasks-db's table) in the
message's own transaction, unless the recipient turned emails off. This sends
`--batch` messages through `messaging.services` per round, alternating rounds whose
recipient has `notify_email` on (job queued) and off (nothing queued), on a fresh
SQLite database in a temporary folder, and prints the median process CPU time per
message of each kind, their difference and ratio. Process CPU (not wall time) so that
other load on the machine counts for little.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds of each kind")
    parser.add_argument("--batch", type=int, default=200, help="messages per round")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="stayhub-notify-bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{folder}/bench.sqlite3",
        STAYHUB_ALLOW_DEV_SECRET="1",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from core.models import User
    from messaging import services

    sender = User.objects.create_user(email="s@example.com", password="x", name="Sender")
    on = User.objects.create_user(email="on@example.com", password="x", name="On")
    off = User.objects.create_user(email="off@example.com", password="x", name="Off")
    User.objects.filter(pk=off.pk).update(notify_email=False)
    chats = {
        "queued": services.conversation_start(user=sender, other_user_id=on.pk)[0],
        "not queued": services.conversation_start(user=sender, other_user_id=off.pk)[0],
    }
    per_message: dict[str, list[float]] = {kind: [] for kind in chats}
    for chat in chats.values():  # warm up both paths
        services.message_send(conversation_id=chat.pk, sender=sender, body="warm up")
    for _ in range(args.rounds):
        for kind, chat in chats.items():
            started = time.process_time()
            for n in range(args.batch):
                services.message_send(conversation_id=chat.pk, sender=sender, body=f"m{n}")
            per_message[kind].append((time.process_time() - started) / args.batch * 1e6)
    queued, plain = median(per_message["queued"]), median(per_message["not queued"])
    print(f"message_send CPU per message, median of {args.rounds} rounds of {args.batch}:")
    print(f"  email job queued     {queued:8.1f} µs")
    print(f"  nothing queued       {plain:8.1f} µs")
    print(f"  the job costs        {queued - plain:8.1f} µs  ({queued / plain:.2f}x)")


if __name__ == "__main__":
    main()
