"""The Celery app that `celery -A tasks worker|beat|flower` finds, built from the environment.

The one module whose import builds something: Celery looks for `tasks.celery` because the
`tasks` package has no `app`. `python run.py worker|beat|flower` builds its app the same way
(`tasks.worker.app.app_for`), so both start the same processes: our beat scheduler, our
logging, Flower only with its password.
"""

from tasks.worker.app import app_from_environment

app = app_from_environment()
