"""deploy/README.md's systemd steps, run as written on a fresh machine, then the units checked.

The machine is a temporary directory standing for `/`: every absolute path in a step becomes one
under it, so nothing outside it is written, and its /etc starts with empty user and group files.
The file steps run for real (`install`, `cp`, `systemctl --root=… enable`); `useradd` too, with
`--prefix` (its files under the temporary root), when the tests run as root, and is written by
hand into those files otherwise. The steps that need the network or a running service manager
are stood in for: `git clone` copies this checkout's tracked files, the virtualenv is a link to
this interpreter (test_deploy_files checks the lock and its hashes), `daemon-reload` has nothing
to reload and `--now` starts nothing. `systemd-analyze` then verifies the installed units and
rates their sandboxing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest

from tests.deploy.markdown import markdown_section, shell_commands
from tests.support import ROOT

pytestmark = pytest.mark.unit

DEPLOY = ROOT / "deploy"
UNITS = sorted(p.name for p in (DEPLOY / "systemd").glob("*.service"))
USER = "reportbot"
CHECKOUT = "/opt/reportbot"
CONFIG = "/etc/reportbot"
# systemd-analyze rates a unit from 0 (locked down) to 10 (exposed); "OK" is below 2.0, and
# NoNewPrivileges, PrivateTmp, ProtectSystem and ProtectHome alone rate 8.5.
MAX_EXPOSURE = 2.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian's systemd package)"
)


def readme_steps() -> list[list[str]]:
    """The commands of the README's systemd block, `&&` chains split, `sudo` and comments dropped."""
    steps = []
    for line in shell_commands(markdown_section(DEPLOY / "README.md", "systemd (one VM)")):
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            command, words = words[:cut], words[cut + 1 :]
            steps.append(command[1:] if command[0] == "sudo" else command)
    return steps


@dataclass
class Machine:
    """A fresh machine in a directory: where the README's steps run."""

    root: Path
    cwd: Path

    def path(self, word: str) -> str:
        return str(self.root / word.lstrip("/")) if word.startswith("/") else word

    def gid(self, group: str) -> int:
        for line in (self.root / "etc/group").read_text().splitlines():
            name, _, gid, _ = line.split(":")
            if name == group:
                return int(gid)
        raise AssertionError(f"no group {group} on the machine: the steps must make it first")

    def user(self, name: str) -> list[str]:
        for line in (self.root / "etc/passwd").read_text().splitlines():
            if line.split(":")[0] == name:
                return line.split(":")
        raise AssertionError(f"no user {name} on the machine")

    def run(self, argv: list[str]) -> None:
        """One step: for real inside the root, or its stand-in (see the module's docstring)."""
        name = argv[0]
        if name == "useradd":
            self.useradd(argv[1:])
        elif name == "git" and argv[1] == "clone":
            self.clone(Path(self.path(argv[-1])))
        elif name == "cd":
            self.cwd = Path(self.path(argv[1]))
        elif re.fullmatch(r"python3(\.\d+)?", name) and argv[1:3] == ["-m", "venv"]:
            python = self.cwd / argv[3] / "bin/python"
            python.parent.mkdir(parents=True)
            python.symlink_to(sys.executable)
        elif name.endswith("/pip"):
            assert (self.cwd / name).parent == (self.cwd / ".venv/bin"), argv
            assert argv[1:] == ["install", "--require-hashes", "-r", "requirements.lock"], argv
            assert (self.cwd / "requirements.lock").is_file()
        elif name in ("install", "cp"):
            self.for_real(argv)
        elif name == "systemctl":
            self.systemctl(argv[1:])
        else:
            pytest.fail(f"deploy/README.md: no stand-in for the step {shlex.join(argv)}")

    def useradd(self, args: list[str]) -> None:
        assert "--system" in args and "--user-group" in args and args[-1] == USER, args
        if os.geteuid() == 0 and shutil.which("useradd"):
            self.for_real(["useradd", *args, "--prefix", str(self.root)], rewrite=False)
            return
        home = args[args.index("--home-dir") + 1]
        shell = args[args.index("--shell") + 1]
        gid = os.getgid()  # install -g can give a file only a group of one's own
        with (self.root / "etc/passwd").open("a") as passwd:
            passwd.write(f"{USER}:x:{os.getuid()}:{gid}::{home}:{shell}\n")
        with (self.root / "etc/group").open("a") as group:
            group.write(f"{USER}:x:{gid}:\n")

    def clone(self, into: Path) -> None:
        tracked = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True, text=True
        ).stdout
        for name in filter(None, tracked.split("\0")):
            if (ROOT / name).is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, into / name)

    def systemctl(self, args: list[str]) -> None:
        if args == ["daemon-reload"]:
            return
        assert args[0] == "enable", args
        units = [a for a in args[1:] if a != "--now"]
        for unit in units:
            assert (self.root / "etc/systemd/system" / f"{unit}.service").is_file(), unit
        if shutil.which("systemctl"):
            self.for_real(["systemctl", f"--root={self.root}", "enable", *units], rewrite=False)

    def for_real(self, argv: list[str], *, rewrite: bool = True) -> None:
        if rewrite:
            words = []
            for before, word in zip(["", *argv], argv, strict=False):
                if before == "-g":
                    words.append(str(self.gid(word)))
                elif any(c in word for c in "*?["):
                    words.extend(sorted(glob(word, root_dir=self.cwd)) or [word])
                else:
                    words.append(self.path(word))
            argv = words
        done = subprocess.run(argv, cwd=self.cwd, capture_output=True, text=True)
        assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr}"


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    root = tmp_path_factory.mktemp("fresh-machine")
    (root / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (root / "etc" / name).touch(mode=0o600 if "shadow" in name else 0o644)
    (root / "etc/systemd/system").mkdir(parents=True)
    m = Machine(root, root)
    for step in readme_steps():
        m.run(step)
    yield m


def test_every_step_of_the_readme_runs_on_a_fresh_machine(machine: Machine) -> None:
    gid = machine.gid(USER)
    _, _, _, _, _, home, shell = machine.user(USER)
    assert home == CHECKOUT and shell.endswith("/nologin")
    config = machine.root / CONFIG.lstrip("/")
    assert config.stat().st_mode & 0o7777 == 0o750 and config.stat().st_gid == gid
    env = config / "reportbot.env"
    assert env.stat().st_mode & 0o7777 == 0o640 and env.stat().st_gid == gid  # secrets: root and the group
    assert env.read_bytes() == (ROOT / ".env.example").read_bytes()
    installed = machine.root / "etc/systemd/system"
    assert sorted(p.name for p in installed.glob("*.service")) == UNITS
    if shutil.which("systemctl"):
        wants = {p.name for p in (installed / "multi-user.target.wants").iterdir()}
        assert {"reportbot-bot.service", "reportbot-worker.service", "reportbot-beat.service"} <= wants


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_finds_what_the_steps_installed(machine: Machine, name: str) -> None:
    keys: dict[str, str] = {}
    for line in (machine.root / "etc/systemd/system" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys.setdefault(key, value)
    assert keys["User"] == keys["Group"] == USER
    assert keys["WorkingDirectory"] == CHECKOUT
    assert Path(machine.path(keys["EnvironmentFile"])).is_file()
    executable = Path(machine.path(shlex.split(keys["ExecStart"])[0]))
    assert os.access(executable, os.X_OK), executable
    assert (Path(machine.path(CHECKOUT)) / "run.py").is_file()


@needs_systemd_analyze
def test_systemd_analyze_verifies_the_installed_units(machine: Machine, tmp_path: Path) -> None:
    """Each unit as installed, its paths pointed into the machine (verify looks at the real /)."""
    for name in UNITS:
        text = (machine.root / "etc/systemd/system" / name).read_text()
        for path in (CHECKOUT, CONFIG):
            text = text.replace(path, machine.path(path))
        (tmp_path / name).write_text(text)
    assert SYSTEMD_ANALYZE
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", UNITS)
def test_each_unit_is_sandboxed(name: str) -> None:
    assert SYSTEMD_ANALYZE
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(DEPLOY / "systemd" / name)],
        capture_output=True,
        text=True,
    )
    match = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match[1]) < MAX_EXPOSURE, done.stdout
