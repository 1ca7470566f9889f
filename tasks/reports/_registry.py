"""The report registry: how a decorated function becomes a report people can run from Slack.

A report is a plain function whose keyword parameters (with type hints) are its arguments. The
bot converts and validates the ``key=value`` text people type *before* anything is queued, so
mistakes are answered at once, in words the person can act on::

    from tasks.reports import report

    @report("sales", help="Revenue by region")
    def sales(region: str = "all", days: int = 7) -> str:
        return f"*{region}*: 42 € over {days} days"

This module imports nothing heavy (no Celery, no Slack): the bot, the worker and the tests all
import it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from tasks.errors import UserError
from tasks.reports.results import MayNotify
from tasks.slack.mrkdwn import code, join_or

__all__ = [
    "ArgumentError",
    "Param",
    "RESERVED_NAMES",
    "Registry",
    "Report",
    "registry",
    "report",
]

#: Words of the command grammar; a report with one of these names could never be run.
RESERVED_NAMES = frozenset({"help", "list", "status", "history", "cancel", "schedule"})

REPORT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# Parameter names must be typeable as the grammar's ``key=`` (it lowercases keys).
PARAM_NAME = re.compile(r"[a-z_][a-z0-9_]*")

ParamKind = Literal["str", "int", "float", "bool", "date", "choice"]

_KINDS: dict[type, ParamKind] = {str: "str", int: "int", float: "float", bool: "bool", dt.date: "date"}
#: The type hint of each kind but ``choice``: for reports declared without Python (``tasks.reports.sql``).
KIND_TYPES: dict[str, type] = {kind: hint for hint, kind in _KINDS.items()}

# What each kind looks like in help and in error messages (plain text; escape before sending).
_PLACEHOLDER: dict[str, str] = {
    "str": "<text>",
    "int": "<whole number>",
    "float": "<number>",
    "bool": "<yes|no>",
    "date": "<date YYYY-MM-DD>",
}

_EXPECTS: dict[str, str] = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "yes or no",
    "date": "a date",
}

_EXAMPLE: dict[str, str] = {  # str's example is quoted, see Param.example
    "int": "7",
    "float": "0.5",
    "bool": "yes",
    "date": "2024-05-01",
}

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RELATIVE_DATE = re.compile(r"today(?:([+-])([0-9]{1,5})d)?")

_MISSING = inspect.Parameter.empty


class ArgumentError(UserError):
    """A ``key=value`` the person typed does not fit the report's arguments."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One argument of a report, derived from a keyword parameter and its type hint.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``date`` and ``choice`` (a
    ``Literal[...]`` of strings, listed in ``choices``). ``Optional[X]`` / ``X | None`` is
    allowed; an empty quoted value (``since=""``) then means ``None``.
    """

    name: str
    annotation: Any
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] | None = None
    kind: ParamKind = "str"

    @classmethod
    def from_signature(cls, parameter: inspect.Parameter, hint: Any) -> Param:
        """Build a ``Param`` from a function parameter and its resolved type hint.

        Raises ``TypeError`` for what a report author must fix: unsupported types, ``*args``,
        positional-only parameters, names nobody could type.
        """
        name = parameter.name
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"report parameter {name!r}: *args and **kwargs cannot be typed as key=value")
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"report parameter {name!r} is positional-only; reports are called by keyword")
        return cls.build(name, hint, parameter.default)

    @classmethod
    def build(cls, name: str, hint: Any, default: Any = _MISSING) -> Param:
        """A ``Param`` called ``name`` of type ``hint``; no ``default`` means it is required.

        The one place the rules for arguments live, for decorated functions and SQL reports
        alike. ``TypeError`` for a name nobody could type or an unsupported type.
        """
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
            raise TypeError(
                f"report parameter {name!r} must be lowercase letters, digits and underscores "
                "so that people can type it as key=value"
            )
        if hint is _MISSING:
            raise TypeError(
                f"report parameter {name!r} needs a type hint (str, int, float, bool, date or Literal)"
            )
        base, optional = _unwrap_optional(hint)
        kind, choices = _kind_of(name, base)
        required = default is _MISSING
        if required:
            default = None
        elif default is None and not optional:
            raise TypeError(
                f"report parameter {name!r} defaults to None; annotate it as `{_type_name(base)} | None`"
            )
        elif choices is not None and default is not None and default not in choices:
            raise TypeError(f"report parameter {name!r}: default {default!r} is not one of {choices!r}")
        return cls(name=name, annotation=hint, default=default, required=required, choices=choices, kind=kind)

    @property
    def optional(self) -> bool:
        """Whether ``None`` is an accepted value (the hint was ``X | None``)."""
        return _unwrap_optional(self.annotation)[1]

    @property
    def placeholder(self) -> str:
        """What a value looks like, for help: ``<whole number>`` or ``bar|line``."""
        if self.choices is not None:
            return "|".join(self.choices)
        return _PLACEHOLDER[self.kind]

    def describe(self) -> str:
        """One line of help, e.g. ``days=<whole number> (default: 7)``.

        Plain text (it contains ``<`` and ``>``): escape it before sending it to Slack.
        """
        text = f"{self.name}={self.placeholder}"
        if self.required:
            return f"{text} (required)"
        if self.default is None:
            return f"{text} (optional)"
        return f"{text} (default: {_show_default(self.default)})"

    def example(self) -> str:
        """A valid ``key=value`` to show in error messages, e.g. ``days=7``."""
        if self.choices is not None:
            value = self.choices[0]
        elif self.kind == "str":
            value = '"some text"'
        else:
            value = _EXAMPLE[self.kind]
        return f"{self.name}={value}"

    def convert(self, raw: str, *, today: dt.date | None = None) -> Any:
        """Turn the typed text into the value the report function gets.

        ``today`` fixes the date that ``today``/``yesterday``/``today-7d`` count from (for
        tests); it defaults to the local date. Raises ``ArgumentError`` naming the argument,
        what it expects and what was given.
        """
        if raw == "" and self.optional and self.kind != "str":
            return None
        if self.kind == "str":
            return raw
        value = raw.strip()
        if self.kind == "choice":
            return self._convert_choice(raw, value)
        if self.kind == "int" and _INT.fullmatch(value):
            return int(value)
        if self.kind == "float" and _FLOAT.fullmatch(value):
            return float(value)
        if self.kind == "bool" and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if self.kind == "date":
            converted = _convert_date(value, today or dt.date.today())
            if converted is not None:
                return converted
        raise ArgumentError(self._wrong(raw))

    def _convert_choice(self, raw: str, value: str) -> str:
        assert self.choices is not None
        if value in self.choices:
            return value
        folded = [choice for choice in self.choices if choice.lower() == value.lower()]
        if len(folded) == 1:
            return folded[0]
        raise ArgumentError(self._wrong(raw))

    def _wrong(self, raw: str) -> str:
        if self.kind == "choice":
            assert self.choices is not None
            expects = "one of " + join_or([code(choice) for choice in self.choices])
            example = code(self.example())
        elif self.kind == "date":
            expects = "a date"
            examples = [f"{self.name}={word}" for word in ("2024-05-01", "today", "yesterday", "today-7d")]
            example = join_or([code(text) for text in examples])
        else:
            expects = _EXPECTS[self.kind]
            example = code(self.example())
        gave = code(raw) if raw else "nothing"
        return f"{code(self.name)} must be {expects}, like {example}; you gave {gave}."


@dataclasses.dataclass(frozen=True)
class Report:
    """A runnable report: its name, its function, who may run it, and its arguments.

    Build one with :meth:`from_function` (the ``@report`` decorator does).
    """

    name: str
    func: Callable[..., Any]
    help: str = ""
    params: tuple[Param, ...] = ()
    channels: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    time_limit: float | None = None
    notify: bool = False

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str,
        help: str = "",
        channels: Iterable[str] | str = (),
        users: Iterable[str] | str = (),
        groups: Iterable[str] | str = (),
        time_limit: float | None = None,
        notify: bool = False,
    ) -> Report:
        """Read ``func``'s signature into a ``Report``; ``TypeError`` if it cannot be one.

        ``help`` defaults to the first line of the docstring, so a documented function needs
        nothing more.
        """
        try:
            hints = typing.get_type_hints(func)
        except Exception as exc:  # NameError for an unresolvable string annotation, and friends
            raise TypeError(f"report {name!r}: cannot resolve the type hints of {func!r}: {exc}") from exc
        signature = inspect.signature(func)
        params = tuple(
            Param.from_signature(parameter, hints.get(parameter.name, _MISSING))
            for parameter in signature.parameters.values()
        )
        if not help:
            help = (inspect.getdoc(func) or "").strip().split("\n", 1)[0]
        return cls.make(
            name=name,
            func=func,
            help=help,
            params=params,
            channels=channels,
            users=users,
            groups=groups,
            time_limit=time_limit,
            notify=notify,
        )

    @classmethod
    def make(
        cls,
        *,
        name: str,
        func: Callable[..., Any],
        help: str = "",
        params: Iterable[Param] = (),
        channels: Any = (),
        users: Any = (),
        groups: Any = (),
        time_limit: Any = None,
        notify: Any = False,
    ) -> Report:
        """A ``Report`` with its options checked and normalised, however it was declared.

        ``channels``/``users``/``groups`` are one name or a list of names; ``time_limit`` a
        positive number of seconds or ``None``; ``notify`` True or False. ``ValueError``
        naming the report otherwise.
        """
        if not isinstance(notify, bool):
            raise ValueError(f"report {name!r}: `notify` must be true or false, not {notify!r}")
        if time_limit is not None and (
            isinstance(time_limit, bool) or not isinstance(time_limit, int | float) or not time_limit > 0
        ):
            raise ValueError(
                f"report {name!r}: `time_limit` must be a positive number of seconds, not {time_limit!r}"
            )
        return cls(
            name=name,
            func=func,
            help=help,
            params=tuple(params),
            channels=_as_tuple(name, "channels", channels),
            users=_as_tuple(name, "users", users),
            groups=_as_tuple(name, "groups", groups),
            time_limit=None if time_limit is None else float(time_limit),
            notify=notify,
        )

    def param(self, name: str) -> Param | None:
        """The argument called ``name``, if there is one."""
        return next((param for param in self.params if param.name == name), None)

    def convert_args(self, raw: Mapping[str, str], *, today: dt.date | None = None) -> dict[str, Any]:
        """Check and convert typed ``key=value`` text into the kwargs to call the report with.

        Defaults are filled in, so the result is the full call; a date default written as text
        (``today-7d``, from a SQL report) counts from ``today``, i.e. from when the report runs.
        Raises ``ArgumentError`` for an
        unknown key (suggesting the closest), a missing required argument, or a bad value.
        """
        names = [param.name for param in self.params]
        for key in raw:
            if key not in names:
                raise ArgumentError(self._unknown(key, names))
        missing = [param for param in self.params if param.required and param.name not in raw]
        if missing:
            needs = " ".join(param.example() for param in missing)
            shown = ", ".join(code(f"{param.name}={param.placeholder}") for param in missing)
            raise ArgumentError(
                f"{code(self.name)} needs {shown}. For example: {code(f'{self.name} {needs}')}"
            )
        return {param.name: self._value(param, raw, today) for param in self.params}

    @staticmethod
    def _value(param: Param, raw: Mapping[str, str], today: dt.date | None) -> Any:
        if param.name in raw:
            return param.convert(raw[param.name], today=today)
        if param.kind == "date" and isinstance(param.default, str):
            return param.convert(param.default, today=today)
        return param.default

    def _unknown(self, key: str, names: list[str]) -> str:
        message = f"{code(self.name)} has no argument {code(key)}."
        if not names:
            return f"{message} It takes no arguments: just {code(self.name)}."
        close = difflib.get_close_matches(key.lower(), names, n=1)
        if close:
            message += f" Did you mean {code(close[0])}?"
        return f"{message} Its arguments are: {', '.join(code(name) for name in names)}."

    def usage(self) -> str:
        """One line, e.g. ``sales [region=<text>] [days=<whole number>]`` (plain text)."""
        parts = [self.name]
        for param in self.params:
            part = f"{param.name}={param.placeholder}"
            parts.append(part if param.required else f"[{part}]")
        return " ".join(parts)

    def describe_args(self) -> list[str]:
        """One help line per argument (plain text; escape before sending)."""
        return [param.describe() for param in self.params]

    def run(self, args: Mapping[str, Any]) -> Any:
        """Call the report with already converted arguments (see :meth:`convert_args`).

        The result of a report declared with ``notify=True`` comes back as ``MayNotify``, so
        rendering lets its broadcast mentions through.
        """
        result = self.func(**args)
        return MayNotify(result) if self.notify else result


class Registry:
    """The reports by name. Names are checked when a report is added, i.e. at import time."""

    def __init__(self) -> None:
        self._reports: dict[str, Report] = {}

    def add(self, report: Report) -> Report:
        """Register ``report``; ``ValueError`` for a reserved, malformed or taken name.

        Adding the same function again (a module imported twice or reloaded) replaces it.
        """
        name = report.name
        if not isinstance(name, str) or not REPORT_NAME.fullmatch(name):
            raise ValueError(
                f"report name {name!r} must be 1-40 lowercase letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        if name in RESERVED_NAMES:
            raise ValueError(
                f"report name {name!r} is a word of the command ({', '.join(sorted(RESERVED_NAMES))})"
            )
        existing = self._reports.get(name)
        if existing is not None and not _same_function(existing.func, report.func):
            raise ValueError(
                f"report name {name!r} is taken by {_where(existing.func)}; {_where(report.func)} needs another name"
            )
        self._reports[name] = report
        return report

    def get(self, name: str) -> Report | None:
        """The report called ``name``, or ``None``."""
        return self._reports.get(name)

    def all(self) -> list[Report]:
        """Every report, sorted by name."""
        return [self._reports[name] for name in sorted(self._reports)]

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Names close to ``name`` (for "did you mean"), best first."""
        return difflib.get_close_matches(name.lower(), list(self._reports), n=n)

    def require(self, name: str, *, command: str = "/run-report") -> Report:
        """The report called ``name``, or a ``UserError`` suggesting what they may have meant."""
        found = self._reports.get(name)
        if found is not None:
            return found
        message = f"There is no report called {code(name)}."
        close = self.suggest(name)
        if close:
            message += f" Did you mean {join_or([code(other) for other in close])}?"
        raise UserError(f"{message} Try {code(f'{command} list')}.")

    def __contains__(self, name: object) -> bool:
        return name in self._reports

    def __len__(self) -> int:
        return len(self._reports)


#: The registry the ``@report`` decorator fills and the bot and worker read.
registry = Registry()
_default_registry = registry

_F = typing.TypeVar("_F", bound=Callable[..., Any])


def report(
    name: str,
    *,
    help: str = "",
    channels: Iterable[str] | str = (),
    users: Iterable[str] | str = (),
    groups: Iterable[str] | str = (),
    time_limit: float | None = None,
    notify: bool = False,
    registry: Registry | None = None,
) -> Callable[[_F], _F]:
    """Declare a report. The function is returned unchanged, so tests can call it directly.

    ``channels``/``users``/``groups`` restrict who may run it (empty: everyone);
    ``time_limit`` is in seconds. ``notify=True`` lets the broadcast mentions in its output
    (``<!here>``, ``<!channel>``, ``<!everyone>``, user groups) notify people; without it they
    are shown as text, so a report that repeats what someone typed cannot ping a channel.
    ``registry`` defaults to the module's ``registry``.

    >>> @report("sales", help="Revenue by region", registry=Registry())
    ... def sales(region: str = "all", days: int = 7) -> str:
    ...     return f"{region}: {days}"
    >>> sales(days=3)
    'all: 3'
    """
    if callable(name):
        raise TypeError('@report needs a name: write @report("sales", help="...")')
    target = registry if registry is not None else _default_registry

    def decorate(func: _F) -> _F:
        target.add(
            Report.from_function(
                func,
                name=name,
                help=help,
                channels=channels,
                users=users,
                groups=groups,
                time_limit=time_limit,
                notify=notify,
            )
        )
        return func

    return decorate


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` / ``Optional[X]`` → ``(X, True)``; anything else → ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = typing.get_args(hint)
        others = [member for member in members if member is not type(None)]
        if len(others) == 1 and len(others) < len(members):
            return others[0], True
    return hint, False


def _kind_of(name: str, hint: Any) -> tuple[ParamKind, tuple[str, ...] | None]:
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if not choices or not all(isinstance(choice, str) for choice in choices):
            raise TypeError(f"report parameter {name!r}: Literal choices must be strings, got {choices!r}")
        return "choice", tuple(choices)
    if isinstance(hint, type) and hint in _KINDS:
        return _KINDS[hint], None
    raise TypeError(
        f"report parameter {name!r} has unsupported type {hint!r}; "
        "use str, int, float, bool, datetime.date or Literal['a', 'b'] (optionally `| None`)"
    )


def _convert_date(value: str, today: dt.date) -> dt.date | None:
    lowered = value.lower()
    try:
        if lowered == "yesterday":
            return today - dt.timedelta(days=1)
        relative = _RELATIVE_DATE.fullmatch(lowered)
        if relative:
            sign, days = relative.groups()
            offset = dt.timedelta(days=int(days or 0))
            return today - offset if sign == "-" else today + offset
        if _ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    return None


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if value == "":
        return '""'
    return str(value)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _as_tuple(report: str, option: str, value: Any) -> tuple[str, ...]:
    """One name or several as a tuple; ``ValueError`` for anything else (a number, a table)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Mapping) and isinstance(value, Iterable):
        names = tuple(value)
        if all(isinstance(item, str) for item in names):
            return names
    raise ValueError(f"report {report!r}: `{option}` must be a name or a list of names, not {value!r}")


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    return a is b or (
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )


def _where(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
