"""reportbot's background side: the Celery app, reports, rendering, posting and schedules.

`celery -A tasks worker` finds `app` here, as in Celery's documentation. The app is configured
from the environment (and `.env`) once, at import.
"""

from tasks.celery import make_app
from tasks.execution import register_tasks
from tasks.runtime import Runtime
from tasks.settings import load_settings
from tasks.worker_process import connect_signals

settings = load_settings()
runtime = Runtime(settings)
app = make_app(settings)
register_tasks(app, runtime)
connect_signals(runtime)

__all__ = ["app", "runtime", "settings"]
