"""The Celery app that `celery -A tasks worker|beat|flower` finds, built from the environment.

The one module whose import builds something: Celery looks for `tasks.celery` because the
`tasks` package has no `app`, and `python run.py worker|beat|flower` starts this same app, so
both ways start the same processes (our beat scheduler, our logging, Flower's password).
"""

from tasks.worker.app import app_from_environment

app = app_from_environment()
