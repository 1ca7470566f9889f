"""reportbot's command line: `python run.py [bot|worker|beat|flower|local] [extra options]`.

With no argument and no Slack credentials it starts the all-in-one local mode (a Slack sandbox
in the browser, the bot, a worker and the scheduler in one process). Options after the process
name go to Celery for worker, beat and flower (`python run.py worker --concurrency 4`).
"""

from __future__ import annotations

import sys

PROCESSES = ("bot", "worker", "beat", "flower", "local")


def main(argv: list[str]) -> int:
    from tasks.logs import configure_logging
    from tasks.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"reportbot: {exc}", file=sys.stderr)
        return 2
    process, extra = (argv[0], argv[1:]) if argv else ("", [])
    if process in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if not process:
        process = "local" if not settings.slack_bot_token else "bot"
    if process not in PROCESSES:
        print(
            f"reportbot: unknown process {process!r}; choose one of {', '.join(PROCESSES)}", file=sys.stderr
        )
        return 2
    configure_logging(settings)
    try:
        if process == "bot":
            from bot.serve import run_bot

            run_bot(settings)
        elif process == "local":
            from sandbox.local import run_local

            run_local(settings)
        else:
            from tasks.worker.app import app_for

            app = app_for(settings, process)
            level = settings.log_level.lower()
            if process == "worker":
                app.worker_main(["worker", f"--loglevel={level}", *extra])
            elif process == "beat":
                app.start(["beat", f"--loglevel={level}", *extra])
            elif process == "flower":
                app.start(["flower", *extra])
    except SettingsError as exc:
        print(f"reportbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
