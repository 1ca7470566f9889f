"""The floor for end-to-end latency: a raw Celery no-op round trip on the same broker.

`rpc://` brings the result back over RabbitMQ itself, so the round trip is publish, deliver,
run nothing, reply: what any job pays before it does any work.

    celery -A bench.noop_tasks worker --concurrency=1
"""

from __future__ import annotations

from celery import Celery

from tasks.settings import load_settings

NOOP = "bench.noop"
NOOP_QUEUE = "bench-noop"
app = Celery("bench-noop", broker=load_settings().celery_broker_url, backend="rpc://")
app.conf.task_default_queue = NOOP_QUEUE


@app.task(name=NOOP)
def noop() -> None:
    return None
