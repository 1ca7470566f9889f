"""reportbot's command line: `python run.py [bot|worker|beat|flower|local] [options]`.

With no argument it starts the all-in-one local mode when no Slack token is set, the bot when
one is. Options after worker, beat or flower that are not ours go to Celery or Flower
(`python run.py worker --concurrency 4`). A wrong argument or setting is one line on stderr and
exit status 2; Slack unreachable at start is one line and exit status 1.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tasks.settings import Settings, SettingsError

if TYPE_CHECKING:
    from tasks.worker.app import WorkerApp

PROCESSES = ("bot", "worker", "beat", "flower", "local")

SETTINGS_HELP = """\b
Settings come from the environment, and from a .env file in the current directory
(the environment wins); .env.example lists and explains every one. The main ones:
  SLACK_BOT_TOKEN        the bot's token; without it, no argument means local mode
  SLACK_SIGNING_SECRET   checks Slack's requests over HTTP
  SLACK_APP_TOKEN        when set, the bot uses Socket Mode instead of HTTP
  SLACK_API_URL          where Slack's Web API is (default https://slack.com/api/)
  CELERY_BROKER_URL      the RabbitMQ broker jobs go through
  REDIS_URL              job records and schedules
  REPORT_MODULES, REPORTS_FILE   where the reports are defined
  PORT, FLOWER_PORT, FLOWER_BASIC_AUTH, LOG_LEVEL, LOG_FORMAT
"""

PASSED_ON = dict(ignore_unknown_options=True, allow_extra_args=True, help_option_names=["-h", "--help"])


def version() -> str:
    """The version pyproject.toml declares, read from the checkout run.py is part of."""
    with (Path(__file__).parent / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


class Processes(click.Group):
    """The processes in the order they are documented, and an unknown one named in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(PROCESSES)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name == "help":  # `run.py help`, as `--help`, once the settings are known to load
            return name, click.Command(name, callback=lambda: click.echo(ctx.get_help())), args[1:]
        if name not in PROCESSES:
            raise click.UsageError(f"unknown process {name!r}; choose one of {', '.join(PROCESSES)}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(100)) for name, command in self.commands.items()]
        with formatter.section("Processes"):
            formatter.write_dl(sorted(rows, key=lambda row: PROCESSES.index(row[0])))


@click.group(
    cls=Processes,
    invoke_without_command=True,
    subcommand_metavar="[PROCESS] [OPTIONS]...",
    epilog=SETTINGS_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(version(), "--version", prog_name="reportbot", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """reportbot: Slack slash commands that run reports as Celery jobs.

    With no process: local mode when SLACK_BOT_TOKEN is unset, else the bot.
    """
    from tasks.logs import configure_logging
    from tasks.settings import load_settings

    ctx.obj = settings = load_settings()
    configure_logging(settings)
    if ctx.invoked_subcommand is None:
        ctx.invoke(bot if settings.slack_bot_token else local)


@cli.command(short_help="The Slack side: Socket Mode, or HTTP on PORT at /slack/events.")
@click.pass_obj
def bot(settings: Settings) -> None:
    """The Slack side: Socket Mode if SLACK_APP_TOKEN is set, else HTTP on PORT."""
    from bot.serve import run_bot

    run_bot(settings)


@cli.command()
@click.pass_obj
def local(settings: Settings) -> None:
    """Everything in one process, with a Slack sandbox in the browser."""
    from sandbox.local import run_local

    run_local(settings)


def celery_process(
    name: str, summary: str, start: Callable[[WorkerApp, str, list[str]], None]
) -> click.Command:
    """A process run by Celery: the options we do not know are passed on to it."""
    passed_to = "Flower" if name == "flower" else "Celery"

    @click.pass_obj
    def run(settings: Settings, options: tuple[str, ...]) -> None:
        from tasks.worker.app import app_for

        try:
            start(app_for(settings, name), settings.log_level.lower(), list(options))
        except click.UsageError as exc:  # an option Celery or Flower does not know
            raise click.UsageError(f"{name}: {exc.format_message()}") from None

    return click.Command(
        name,
        callback=run,
        params=[
            click.Argument(
                ["options"], nargs=-1, type=click.UNPROCESSED, metavar=f"[{passed_to.upper()} OPTIONS]..."
            )
        ],
        help=f"{summary}\n\nOther options are passed on to {passed_to} (celery {name} --help lists them).",
        short_help=summary,
        context_settings=PASSED_ON,
        options_metavar="[OPTIONS]",
    )


cli.add_command(
    celery_process(
        "worker",
        "A Celery worker that runs the jobs (as celery -A tasks worker).",
        lambda app, level, options: app.worker_main(["worker", f"--loglevel={level}", *options]),
    )
)
cli.add_command(
    celery_process(
        "beat",
        "Celery Beat with the schedules kept in Redis (as celery -A tasks beat).",
        lambda app, level, options: app.start(["beat", f"--loglevel={level}", *options]),
    )
)
cli.add_command(
    celery_process(
        "flower",
        "Flower on FLOWER_PORT, with FLOWER_BASIC_AUTH (as celery -A tasks flower).",
        lambda app, level, options: app.start(["flower", *options]),
    )
)


def main(argv: list[str]) -> int:
    """Run the command line; what goes wrong before a process is up is one line on stderr."""
    from tasks.slack.web_api import SlackUnreachable

    try:
        cli.main(argv, prog_name="run.py", standalone_mode=False)
    except click.ClickException as exc:  # ours, or Celery's for an option it does not know
        print(f"reportbot: {exc.format_message()}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"reportbot: {exc}", file=sys.stderr)
        return 2
    except SlackUnreachable as exc:
        print(f"reportbot: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, click.Abort):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
