"""The command grammar: the one place that turns the slash command's text into a ``Command``.

Parsing is pure (no Slack, no registry), so every refusal is a ``GrammarError`` whose message
says what was wrong and shows a command that would work. Whether a report or its arguments
exist is checked later, against the registry; this module only checks the shape.

>>> parse('sales region=emea title="two words"')
RunReport(report='sales', args={'region': 'emea', 'title': 'two words'})
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from tasks.errors import UserError
from tasks.reports import PARAM_NAME as _KEY  # the registry's rules, so they agree
from tasks.reports import REPORT_NAME
from tasks.schedules.schedule import (
    CRON_EXAMPLE,
    MAX_EVERY_SECONDS,
    MISFIRE_POLICIES,
    SCHEDULE_ID,
    ScheduleError,
    describe_seconds,
    parse_every,
)
from tasks.slack.mrkdwn import code as _code

__all__ = [
    "COMMAND",
    "MAX_TEXT",
    "Cancel",
    "Command",
    "GrammarError",
    "Help",
    "History",
    "ListReports",
    "RunReport",
    "ScheduleAdd",
    "ScheduleList",
    "SchedulePause",
    "ScheduleRemove",
    "ScheduleResume",
    "Status",
    "parse",
    "usage",
]

#: The slash command's default name; the real one comes from settings (``SLACK_COMMAND``).
COMMAND = "/run-report"

#: The longest command text parsed. A slash command is typed in Slack's message composer, and
#: Slack keeps at most 40,000 characters of a message's text
#: (api.slack.com/changelog/2018-04-truncating-really-long-messages); Slack documents no
#: separate limit for a command's text. Longer text is not from a person typing in Slack.
MAX_TEXT = 40_000
#: The most of one piece of typed text a refusal echoes back.
SHOWN_CHARS = 200

_JOB_ID = re.compile(r"[0-9a-f]{6,32}")
_TZ = re.compile(r"[A-Za-z][A-Za-z0-9_+\-/]{0,63}")
_SCHEDULE_SUBCOMMANDS = ("add", "list", "remove", "pause", "resume")
# One piece of a word: a quoted run, an unquoted run, the space between words, or a quote with
# no partner (a refusal). No alternative can match a prefix of another's, so a match never
# backtracks, and an opening quote scans to its partner once: the tokenizer is linear.
_PIECE = re.compile(r"\"[^\"]*\"|'[^']*'|[^ \"']+| |[\"']")
_SMART_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'"}
)


class GrammarError(UserError):
    """The command's text does not fit the grammar; the message shows the right form."""


@dataclasses.dataclass(frozen=True)
class Help:
    """``help`` or ``help <report>`` (and empty text)."""

    report: str | None = None


@dataclasses.dataclass(frozen=True)
class ListReports:
    """``list``."""


@dataclasses.dataclass(frozen=True)
class RunReport:
    """``<report> [key=value …]``: queue a job. ``args`` are still text; the report converts them."""

    report: str
    args: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Status:
    """``status <job id>``."""

    job_id: str


@dataclasses.dataclass(frozen=True)
class History:
    """``history``: the channel's recent jobs."""


@dataclasses.dataclass(frozen=True)
class Cancel:
    """``cancel <job id>``."""

    job_id: str


@dataclasses.dataclass(frozen=True)
class ScheduleAdd:
    """``schedule add <report> [key=value …] (every <N><unit> | cron "<expr>") [tz=…] [misfire=…]``.

    Exactly one of ``every_seconds`` and ``cron`` is set. The cron text has five fields but is
    not otherwise checked here (APScheduler does that where schedules are made).
    """

    report: str
    args: dict[str, str]
    every_seconds: int | None = None
    cron: str | None = None
    tz: str | None = None
    misfire: str | None = None


@dataclasses.dataclass(frozen=True)
class ScheduleList:
    """``schedule list [page <N>]``: a long list is shown a page at a time."""

    page: int = 1


@dataclasses.dataclass(frozen=True)
class ScheduleRemove:
    """``schedule remove <id>``."""

    schedule_id: str


@dataclasses.dataclass(frozen=True)
class SchedulePause:
    """``schedule pause <id>``."""

    schedule_id: str


@dataclasses.dataclass(frozen=True)
class ScheduleResume:
    """``schedule resume <id>``."""

    schedule_id: str


Command = (
    Help
    | ListReports
    | RunReport
    | Status
    | History
    | Cancel
    | ScheduleAdd
    | ScheduleList
    | ScheduleRemove
    | SchedulePause
    | ScheduleResume
)


@dataclasses.dataclass(frozen=True)
class _Token:
    """A word after shell-style unquoting, and whether any of it was quoted."""

    text: str
    quoted: bool

    @property
    def word(self) -> str:
        """The token as a keyword: lowercased, and only if nothing of it was quoted."""
        return "" if self.quoted else self.text.lower()


def parse(text: str, command: str = COMMAND) -> Command:
    """Parse the slash command's text; ``GrammarError`` (with an example) if it does not fit.

    ``command`` is the slash command's name as configured, used in the examples we show.
    Text longer than Slack lets anyone type (``MAX_TEXT``) is refused before it is read.
    """
    if len(text) > MAX_TEXT:
        raise GrammarError(
            f"That command is {len(text):,} characters long; the most I take is {MAX_TEXT:,} "
            "(Slack's own limit for a message). Nothing was queued. Shorten it, for example "
            + _code(f'{command} sales title="two words"')
        )
    return _Parser(command).parse(text)


def code(text: str) -> str:
    """``tasks.slack.mrkdwn.code`` of at most ``SHOWN_CHARS`` of ``text``: a refusal shows what was
    typed, not all of it."""
    if len(text) > SHOWN_CHARS:
        text = text[: SHOWN_CHARS - 1] + "…"
    return _code(text)


def usage(command: str = COMMAND) -> str:
    """The grammar in a few lines, for help output. Already mrkdwn (escaped), ready to send."""
    lines = [
        (f"{command} <report> [key=value …]", "run a report now"),
        (f"{command} help [<report>]", "this help, or one report's arguments"),
        (f"{command} list", "the reports"),
        (f"{command} status <job id>", "how a job is doing"),
        (f"{command} history", "this channel's recent jobs"),
        (f"{command} cancel <job id>", "stop a job"),
        (
            f"{command} schedule add <report> [key=value …] every <N><s|m|h|d> [tz=Zone] [misfire=skip|once]",
            "repeat a report",
        ),
        (
            f'{command} schedule add <report> [key=value …] cron "<m h dom mon dow>" [tz=Zone] [misfire=skip|once]',
            "repeat a report by cron",
        ),
        (f"{command} schedule list [page <N>]", "this channel's schedules"),
        (f"{command} schedule remove|pause|resume <id>", "manage a schedule"),
    ]
    rows = [f"{code(form)} — {what}" for form, what in lines]
    example = command + ' sales title="two words"'
    rows.append(f"Quote values with spaces: {code(example)}")
    return "\n".join(rows)


class _Parser:
    """One parse; holds the command name so every message can show a working example."""

    def __init__(self, command: str) -> None:
        self.command = command

    # -- entry -----------------------------------------------------------------------------

    def parse(self, text: str) -> Command:
        tokens = self.tokenize(text)
        if not tokens:
            return Help(None)
        head, rest = tokens[0], tokens[1:]
        keyword = head.word
        if keyword == "help":
            return self.help(rest)
        if keyword in ("list", "history"):
            self.nothing_after(keyword, rest)
            return ListReports() if keyword == "list" else History()
        if keyword in ("status", "cancel"):
            job_id = self.one_id(keyword, rest, _JOB_ID, "job id", "3f9a1c2b", lowercase=True)
            return Status(job_id) if keyword == "status" else Cancel(job_id)
        if keyword == "schedule":
            return self.schedule(rest)
        name = self.report_name(head)
        return RunReport(name, self.args(rest, name))

    # -- tokens ----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[_Token]:
        """Split like a POSIX shell, after undoing what Slack and pasting do to text.

        Smart quotes become plain ones, control and format characters go, whitespace becomes
        single spaces. Backslashes are kept as typed (no escapes): people paste paths, and a
        value with a quote in it can use the other kind of quote. Written with one regular
        expression rather than ``shlex``, which builds each token a character at a time and
        took quadratic time on long words.
        """
        tokens: list[_Token] = []
        parts: list[str] = []
        quoted = False
        for piece in _PIECE.findall(_normalise(text)):
            if piece == " ":
                tokens.append(_Token("".join(parts), quoted))
                parts, quoted = [], False
            elif len(piece) == 1 and piece in "\"'":
                raise self.error(
                    "A quote is not closed.",
                    "Put values with spaces in a pair of quotes, like",
                    f'{self.command} sales title="two words"',
                )
            elif piece[0] in "\"'":
                parts.append(piece[1:-1])
                quoted = True
            else:
                parts.append(piece)
        if parts:
            tokens.append(_Token("".join(parts), quoted))
        return tokens

    # -- commands --------------------------------------------------------------------------

    def help(self, rest: list[_Token]) -> Help:
        if not rest:
            return Help(None)
        if len(rest) > 1:
            raise self.error(
                f"{code('help')} takes at most one report name; you gave {self.shown(rest)}.",
                "For one report's arguments, try",
                f"{self.command} help sales",
            )
        return Help(self.report_name(rest[0], after="help "))

    def nothing_after(self, keyword: str, rest: list[_Token]) -> None:
        if rest:
            raise self.error(
                f"{code(keyword)} takes nothing after it; you gave {self.shown(rest)}.",
                "Try",
                f"{self.command} {keyword}",
            )

    def one_id(
        self,
        keyword: str,
        rest: list[_Token],
        pattern: re.Pattern[str],
        what: str,
        example: str,
        *,
        lowercase: bool = False,
    ) -> str:
        right = f"{self.command} {keyword} {example}"
        if not rest:
            raise self.error(f"{code(keyword)} needs a {what}.", "For example", right)
        if len(rest) > 1:
            raise self.error(
                f"{code(keyword)} takes one {what}; you gave {self.shown(rest)}.", "For example", right
            )
        value = rest[0].text.strip("`").strip()
        if lowercase:
            value = value.lower()
        if not pattern.fullmatch(value):
            raise self.error(
                f"{code(rest[0].text)} is not a {what}.",
                "Use the id from the bot's message (in backticks), for example",
                right,
            )
        return value

    def page(self, keyword: str, rest: list[_Token]) -> int:
        """Nothing (page 1), or ``page <N>`` with N a whole number from 1."""
        if not rest:
            return 1
        number = rest[1].text if len(rest) == 2 and rest[0].word == "page" else ""
        if number.isascii() and number.isdigit() and 0 < int(number) < 100_000:
            return int(number)
        raise self.error(
            f"{code(keyword)} takes nothing after it but a page; you gave {self.shown(rest)}.",
            "Try",
            f"{self.command} {keyword}",
            f"{self.command} {keyword} page 2",
        )

    def report_name(self, token: _Token, *, after: str = "") -> str:
        name = token.text.lower()
        if "=" in token.text:
            raise self.error(
                f"{code(token.text)} is an argument, but the report's name must come first.",
                "For example",
                f"{self.command} {after}sales {token.text}",
            )
        if not REPORT_NAME.fullmatch(name):
            raise self.error(
                f"{code(token.text)} is not a report name (names are lowercase letters, digits, "
                f"{code('-')} and {code('_')}).",
                f"See the reports with {code(f'{self.command} list')}, then for example",
                f"{self.command} {after}sales",
            )
        return name

    def args(self, tokens: list[_Token], report: str, *, prefix: str = "") -> dict[str, str]:
        """``key=value`` tokens into a dict; keys lowercased, values as typed."""
        args: dict[str, str] = {}
        for token in tokens:
            key, value = self.key_value(token, report, prefix=prefix)
            if key in args:
                raise self.error(
                    f"{code(key)} is given twice.",
                    "Give each argument once, like",
                    f"{self.command} {prefix}{report} {key}={_quote(value)}",
                )
            args[key] = value
        return args

    def key_value(self, token: _Token, report: str, *, prefix: str = "") -> tuple[str, str]:
        text = token.text
        start = f"{self.command} {prefix}{report}"
        if "=" not in text:
            if token.word in ("every", "cron") and not prefix:
                raise self.error(
                    f"{code(text)} only works with {code('schedule add')}.",
                    "To repeat a report, try",
                    f"{self.command} schedule add {report} every 1d",
                )
            raise self.error(
                f"{code(text)} is not an argument; arguments are {code('key=value')}.",
                "For example",
                f'{start} region=emea title="two words"',
            )
        key, value = text.split("=", 1)
        if not key:
            raise self.error(
                f"{code(text)} has no name before {code('=')}.",
                "Write the argument's name, then the value, like",
                f"{start} region={_quote(value) or 'emea'}",
            )
        lowered = key.lower()
        if not _KEY.fullmatch(lowered):
            raise self.error(
                f"{code(key)} is not an argument name (names are letters, digits and {code('_')}, "
                "not starting with a digit).",
                "For example",
                f"{start} region=emea",
            )
        if not value and not token.quoted:
            raise self.error(
                f"{code(text)} has no value.",
                f"Give one, or {code(f'{lowered}=' + chr(34) * 2)} for an empty one, like",
                f"{start} {lowered}=emea",
            )
        return lowered, value

    # -- schedule --------------------------------------------------------------------------

    def schedule(self, rest: list[_Token]) -> Command:
        sub = rest[0].word if rest else ""
        if sub not in _SCHEDULE_SUBCOMMANDS:
            said = (
                f"{code('schedule ' + rest[0].text)} is not a schedule command"
                if rest
                else (f"{code('schedule')} needs a subcommand")
            )
            raise self.error(
                f"{said}; use one of {', '.join(code(name) for name in _SCHEDULE_SUBCOMMANDS)}.",
                "For example",
                f"{self.command} schedule add sales every 1d",
            )
        after = rest[1:]
        if sub == "add":
            return self.schedule_add(after)
        if sub == "list":
            return ScheduleList(self.page("schedule list", after))
        schedule_id = self.one_id(f"schedule {sub}", after, SCHEDULE_ID, "schedule id", "s1a2b3")
        changes: dict[str, type[ScheduleRemove | SchedulePause | ScheduleResume]]
        changes = {"remove": ScheduleRemove, "pause": SchedulePause, "resume": ScheduleResume}
        return changes[sub](schedule_id)

    def schedule_add(self, tokens: list[_Token]) -> ScheduleAdd:
        example = f"{self.command} schedule add sales region=emea every 1d"
        if not tokens:
            raise self.error(f"{code('schedule add')} needs a report and a rule.", "For example", example)
        report = self.report_name(tokens[0], after="schedule add ")
        rest = tokens[1:]
        rule_at = next((i for i, token in enumerate(rest) if token.word in ("every", "cron")), None)
        if rule_at is None:
            raise self.error(
                f"{code(f'schedule add {report}')} needs a rule: {code('every <N><s|m|h|d>')} "
                f"or {code('cron ' + chr(34) + '<m h dom mon dow>' + chr(34))}.",
                "For example",
                f"{self.command} schedule add {report} every 1d",
                f'{self.command} schedule add {report} cron "{CRON_EXAMPLE}"',
            )
        args = self.args(rest[:rule_at], report, prefix="schedule add ")
        keyword = rest[rule_at].word
        value = rest[rule_at + 1] if rule_at + 1 < len(rest) else None
        every_seconds: int | None = None
        cron: str | None = None
        if keyword == "every":
            every_seconds = self.interval(report, value)
        else:
            cron = self.cron(report, value)
        tz, misfire = self.schedule_options(report, keyword, rest[rule_at + 2 :])
        return ScheduleAdd(report, args, every_seconds=every_seconds, cron=cron, tz=tz, misfire=misfire)

    def interval(self, report: str, token: _Token | None) -> int:
        """The interval after ``every``, read by ``tasks.schedules.schedule.parse_every`` (as TOML's is)."""
        if token is not None:
            try:
                return parse_every(token.text)
            except ScheduleError:
                pass  # refused below, in the grammar's words and with a command that works
        said = (
            f"{code(token.text)} is not an interval"
            if token is not None
            else f"{code('every')} needs an interval"
        )
        raise self.error(
            f"{said}: a whole number above 0 with a unit {code('s')}, {code('m')}, {code('h')} or "
            f"{code('d')}, at most {code(describe_seconds(MAX_EVERY_SECONDS))} (like {code('90s')}, "
            f"{code('5m')}, {code('1d')}).",
            "For example",
            f"{self.command} schedule add {report} every 5m",
        )

    def cron(self, report: str, token: _Token | None) -> str:
        right = f'{self.command} schedule add {report} cron "{CRON_EXAMPLE}"'
        if token is None:
            raise self.error(f"{code('cron')} needs a rule in quotes.", "For example", right)
        if not token.quoted:
            raise self.error(
                f"The cron rule starting {code(token.text)} must be in quotes, as one piece.",
                "For example",
                right,
            )
        fields = token.text.split()
        if len(fields) != 5:
            raise self.error(
                f"The cron rule {code(token.text)} has {len(fields)} field{'s' if len(fields) != 1 else ''}; "
                "it needs 5: minute, hour, day of month, month, day of week.",
                "For example, 09:00 on weekdays:",
                right,
            )
        return " ".join(fields)

    def schedule_options(
        self, report: str, keyword: str, tokens: list[_Token]
    ) -> tuple[str | None, str | None]:
        options: dict[str, str] = {}
        rule = "every 1d" if keyword == "every" else f'cron "{CRON_EXAMPLE}"'
        base = f"{self.command} schedule add {report}"
        for token in tokens:
            key, sep, value = token.text.partition("=")
            key = key.lower()
            if key not in ("tz", "misfire") or not sep:
                raise self.error(
                    f"{code(token.text)} cannot come after the rule; only {code('tz=')} and "
                    f"{code('misfire=')} can. Report arguments go before {code(keyword)}.",
                    "For example",
                    f"{base} region=emea {rule} tz=Europe/Berlin",
                )
            if key in options:
                raise self.error(
                    f"{code(key)} is given twice.", "Give it once, like", f"{base} {rule} {key}={value}"
                )
            options[key] = value
        tz = options.get("tz")
        if tz is not None and not _TZ.fullmatch(tz):
            raise self.error(
                f"{code(tz) if tz else 'An empty value'} is not a time zone name.",
                "Use a name like Europe/Berlin or UTC, for example",
                f"{base} {rule} tz=Europe/Berlin",
            )
        misfire = options.get("misfire")
        if misfire is not None:
            misfire = misfire.lower()
            if misfire not in MISFIRE_POLICIES:
                raise self.error(
                    f"{code('misfire=' + options['misfire'])} is not a choice; use {code('misfire=skip')} "
                    f"(drop runs missed while down) or {code('misfire=once')} (run once to catch up).",
                    "For example",
                    f"{base} {rule} misfire=skip",
                )
        return tz, misfire

    # -- messages --------------------------------------------------------------------------

    def error(self, wrong: str, lead: str, *examples: str) -> GrammarError:
        """``wrong`` is mrkdwn already (user text through ``code``); examples are shown as code."""
        shown = " or ".join(code(example) for example in examples)
        return GrammarError(f"{wrong} {lead} {shown}")

    @staticmethod
    def shown(tokens: list[_Token]) -> str:
        return code(" ".join(_quote(token.text) for token in tokens))


def _normalise(text: str) -> str:
    """Plain quotes, no control/format characters, single spaces."""
    text = text.translate(_SMART_QUOTES)
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf", "Cs"):
            kept.append(char)
    return " ".join("".join(kept).split())


def _quote(value: str) -> str:
    """``value`` as it would be typed: quoted if it has spaces or is empty."""
    if value and not any(char.isspace() or char in "\"'" for char in value):
        return value
    if '"' in value:
        return f"'{value}'"
    return f'"{value}"'
