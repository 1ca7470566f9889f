"""Every `/run-report …` example the README and the `help` answer show, typed as written into the
sandbox a new user starts (`python run.py`): each gets a real answer, and each job it queues
succeeds. A user copies these first; none may answer "There is no report called …".
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.sandbox_process import SandboxProcess, run_sandbox, wait_for_state
from tests.support import ROOT

CODE = re.compile(r"`(/run-report(?: [^`]*)?)`")
JOB_ID = re.compile(r"job `([0-9a-f]{8})`")
SCHEDULE_ID = re.compile(r"`(s-[0-9a-f]+)`")
README_JOB_ID = "3f9c2a71"  # the README's made-up job id, replaced by one of a job that ran
# Words of the answers that say a command did not work: an unknown report, a refusal, an error.
REFUSALS = (
    "There is no",
    "isn't",
    "not one of",
    "needs",
    "For example",
    "not available",
    "Nothing was queued",
    "went wrong",
    ":warning:",
)
WORDS = {"help", "list", "status", "history", "cancel", "schedule"}  # what is not a report's name


def examples_in(text: str) -> list[str]:
    """The `/run-report …` code spans of a text, less the templates (`<report>`, `<id>`, `[…]`)."""
    spans = [html.unescape(span.replace("\\|", "|")) for span in CODE.findall(text)]
    return [span for span in spans if not re.search(r"[<>\[\]…]", span)]


def readme_examples() -> list[str]:
    return list(dict.fromkeys(examples_in((ROOT / "README.md").read_text())))


def channel(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in snapshot["channels"] if c["id"] == "C0SANDBOX")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with run_sandbox(tmp_path_factory.mktemp("examples")) as proc:
        yield proc


def answer_to(sandbox: SandboxProcess, text: str) -> str:
    """The private answer the sandbox shows for a command typed as `text`."""
    before = len(ephemerals(sandbox))
    reply = sandbox.post_json("/sandbox/command", {"text": text})
    assert reply["ok"] and reply["status"] == 200, (text, reply)
    answers = ephemerals(sandbox)
    assert len(answers) > before, f"{text!r} got no answer"
    return str(answers[-1]["text"])


def ephemerals(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    messages = channel(sandbox.get_json("/sandbox/state"))["messages"]
    return [m for m in messages if m["kind"] == "ephemeral"]


def succeeded(job_id: str):
    """A predicate on the snapshot: job_id's status message says it succeeded."""

    def check(snapshot: dict[str, Any]) -> dict[str, Any] | None:
        for m in channel(snapshot)["messages"]:
            if m["kind"] == "message" and job_id in m["text"] and "succeeded" in m["text"]:
                return m
        return None

    return check


def run_example(sandbox: SandboxProcess, example: str, job_ids: list[str]) -> str:
    """Type `example` and check its answer; a job it queues must succeed. Returns the answer."""
    if README_JOB_ID in example:
        assert job_ids, f"{example!r} needs a job that ran before it"
        example = example.replace(README_JOB_ID, job_ids[0])
    answer = answer_to(sandbox, example)
    assert not any(word in answer for word in REFUSALS), f"{example!r} answered:\n{answer}"
    queued = JOB_ID.search(answer)
    words = example.split()
    if len(words) > 1 and words[1] not in WORDS:
        assert queued and "Queued" in answer, f"{example!r} queued no job:\n{answer}"
    if queued and words[1:2] not in (["status"], ["cancel"]):
        job_ids.append(queued.group(1))
        wait_for_state(sandbox, succeeded(queued.group(1)), what=f"{example!r} to succeed")
    return answer


def test_the_readme_shows_the_examples_a_user_tries_first() -> None:
    examples = readme_examples()
    assert "/run-report sales region=emea" in examples
    assert '/run-report sales region=emea title="two words"' in examples
    assert "/run-report history" in examples and "/run-report status 3f9c2a71" in examples
    assert any(e.startswith("/run-report schedule add sales") for e in examples)


def test_every_readme_example_runs_in_the_sandbox(sandbox: SandboxProcess) -> None:
    job_ids: list[str] = []
    examples = readme_examples()
    # A job first, so `status`, `cancel` and `history` have one to speak of.
    first = [e for e in examples if e.startswith("/run-report sales region=emea")]
    for example in first + [e for e in examples if e not in first]:
        answer = run_example(sandbox, example, job_ids)
        for schedule_id in SCHEDULE_ID.findall(answer) if " schedule add " in example else ():
            answer_to(sandbox, f"/run-report schedule remove {schedule_id}")


def test_every_example_of_the_help_answer_runs_in_the_sandbox(sandbox: SandboxProcess) -> None:
    job_ids: list[str] = []
    examples = list(dict.fromkeys(examples_in(answer_to(sandbox, "/run-report help"))))
    assert '/run-report sales title="two words"' in examples, examples
    for example in examples:
        run_example(sandbox, example, job_ids)
