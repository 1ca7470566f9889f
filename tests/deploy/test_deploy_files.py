"""The files in deploy/ agree with the code: processes, settings, ports, probes, scopes.

No container engine runs where the tests run, so each file is parsed (YAML with PyYAML, the
Dockerfile and the systemd units as text) and checked against what the code really accepts:
`run.py`'s processes, the Settings fields (and `.env.example`), their default ports, the bot's
/healthz, the slash command and the Web API methods the code calls.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.http import EVENTS_PATH
from bot.manifest import BOT_EVENTS, EVENT_SCOPES, EXAMPLE_URL, METHOD_SCOPES, SCOPES, build_manifest
from run import PROCESSES
from tasks.jobs.queues import QUEUE
from tasks.settings import Settings, load_settings
from tests.deploy.markdown import markdown_section
from tests.support import ROOT

pytestmark = pytest.mark.unit

DEPLOY = ROOT / "deploy"
DEFAULTS = Settings()
# Settings read from the environment; fields with compare=False are derived, not variables.
SETTING_NAMES = {f.name.upper() for f in fields(Settings) if f.compare}
# Variables that configure Python, pip or matplotlib in the image, not reportbot.
PYTHON_ENV = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "MPLCONFIGDIR",
}
SECRET_WORDS = re.compile(r"PASS|SECRET|TOKEN|AUTH", re.I)


def yaml_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kinds(kind: str) -> list[dict[str, Any]]:
    return [
        d for p in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for d in yaml_docs(p) if d["kind"] == kind
    ]


def deployment(component: str) -> dict[str, Any]:
    (found,) = [d for d in kinds("Deployment") if d["metadata"]["name"] == f"reportbot-{component}"]
    return found


def container(component: str) -> dict[str, Any]:
    (c,) = deployment(component)["spec"]["template"]["spec"]["containers"]
    return c


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def our_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's keys (all sections together), each with every value it was given."""
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


# ----------------------------------------------------------------------------- every file


KNOWN = {
    "Dockerfile": "dockerfile",
    "Dockerfile.dockerignore": "ignore",
    "README.md": "docs",
    "compose.env.example": "env",
}


def kind_of(path: Path) -> str:
    if path.name in KNOWN:
        return KNOWN[path.name]
    return {".yaml": "yaml", ".yml": "yaml", ".service": "systemd"}.get(path.suffix, "unknown")


def test_every_file_in_deploy_is_one_these_tests_check_and_parses():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert len(files) >= 12
    for path in files:
        kind = kind_of(path)
        assert kind != "unknown", f"{path.relative_to(ROOT)}: add a check for this kind of file"
        if kind == "yaml":
            assert yaml_docs(path), path
        if kind == "systemd":
            assert {"ExecStart", "User"} <= unit(path.name).keys(), path


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """`.env.example`'s settings: those it sets, and those shown commented out (`# NAME=default`)."""
    set_: dict[str, str] = {}
    shown: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            (shown if match[1] else set_)[match[2]] = match[3]
    return set_, shown


def deployment_settings() -> dict[str, dict[str, str]]:
    """Each deployment file's own settings that an env file, or the Secret made from `.env`, overrides."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        found[path.name] = dict(a.split("=", 1) for a in unit(path.name).get("Environment", []))
    for config in kinds("ConfigMap"):
        found[config["metadata"]["name"]] = {k: str(v) for k, v in config["data"].items()}
    found["Dockerfile"] = dict(
        re.findall(r"^ENV ([A-Z_]+)=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    )
    return found


def test_env_example_names_every_setting_and_nothing_else():
    set_, shown = env_example()
    names = set_.keys() | shown.keys()
    assert set_.keys() & shown.keys() == set(), "each setting once in .env.example"
    assert SETTING_NAMES - names == set(), "settings missing from .env.example"
    assert names - SETTING_NAMES == set(), ".env.example names variables no setting reads"


def test_env_example_overrides_no_setting_a_deployment_makes_itself():
    """A copied `.env.example` is the systemd env file and the Kubernetes Secret, which win over the
    units' Environment= and the ConfigMap: a sample value there would replace the deployment's."""
    set_, shown = env_example()
    files = deployment_settings()
    assert (
        files["reportbot-config"]["REPORTS_FILE"] == files["Dockerfile"]["REPORTS_FILE"]
    )  # the scan sees them
    for file, settings in files.items():
        overridden = settings.keys() & set_.keys()
        assert overridden == set(), f"{file} sets {overridden}: comment them out in .env.example"
    # What is shown commented out is the default, so leaving it so changes nothing.
    defaults = load_settings({}, dotenv=None)
    assert load_settings(shown, dotenv=None) == defaults


# ----------------------------------------------------------------------------- the image


def ignored(pattern_lines: list[str], path: str) -> bool:
    """Whether `.dockerignore` patterns exclude `path` (Docker's rules: last match wins, `!` re-includes,
    `**` any number of directories, a pattern that matches a directory excludes what is in it)."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in pattern_lines:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        regex = "^" + re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*") + "$"
        if any(re.match(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_the_build_context_leaves_out_every_env_file_and_local_data():
    lines = [
        ln.strip()
        for ln in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    # compose.yaml has people fill in deploy/.env and builds with the repository as context.
    for secret in (
        ".env",
        "deploy/.env",
        ".env.local",
        "deploy/.env.prod",
        "data/sample.sqlite",
        "deploy/reports/reports.toml",
        ".git/config",
    ):
        assert ignored(lines, secret), f"{secret} would be copied into the image"
    for kept in (".env.example", "run.py", "tasks/settings.py", "deploy/compose.env.example"):
        assert not ignored(lines, kept), f"{kept} would be missing from the image"


def test_the_image_is_slim_runs_as_a_non_root_user_and_starts_run_py():
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines()]
    instructions = [ln for ln in lines if ln and not ln.startswith("#")]
    assert any(ln.startswith("FROM python:3.11-slim") for ln in instructions)
    users = [ln.split()[1] for ln in instructions if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "run.py"]' in instructions
    (cmd,) = [ln for ln in instructions if ln.startswith("CMD ")]
    assert yaml.safe_load(cmd[4:])[0] in PROCESSES
    (expose,) = [ln for ln in instructions if ln.startswith("EXPOSE ")]
    assert {int(p) for p in expose.split()[1:]} == {
        DEFAULTS.port,
        DEFAULTS.flower_port,
        DEFAULTS.worker_metrics_port,
        DEFAULTS.beat_metrics_port,
    }
    env_names = set(
        re.findall(r"(?:ENV\s+|\\\s*\n?\s*|^\s+)([A-Z_]+)=", (DEPLOY / "Dockerfile").read_text(), re.M)
    )
    assert env_names and env_names <= SETTING_NAMES | PYTHON_ENV


def _image_env() -> dict[str, str]:
    """The ENV the Dockerfile sets, name -> value."""
    text = (DEPLOY / "Dockerfile").read_text()
    return dict(re.findall(r"(?:ENV\s+|\\\s*\n\s*)([A-Z_]+)=(\S+)", text))


def _matplotlib_warnings(configdir: Path | None) -> str:
    """What importing pyplot prints, with a home matplotlib cannot write to (as in the image)
    and MPLCONFIGDIR set to `configdir`, or not set."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME")}
    env["HOME"] = "/proc/no-home"
    if configdir is not None:
        env["MPLCONFIGDIR"] = str(configdir)
    done = subprocess.run(
        [sys.executable, "-c", "import matplotlib.pyplot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_matplotlib_keeps_its_config_in_a_writable_tmp_dir_wherever_the_root_is_read_only(tmp_path):
    value = _image_env()["MPLCONFIGDIR"]
    assert Path(value).is_relative_to("/tmp")
    # Kubernetes runs every container read-only, with a writable emptyDir at /tmp.
    for component in ("bot", "worker", "beat"):
        c = container(component)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment(component)["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], component
    # The worker draws the charts; under ProtectSystem=strict only its private /tmp is writable.
    keys = unit("reportbot-worker.service")
    assert keys["PrivateTmp"] == ["yes"] and f"MPLCONFIGDIR={value}" in keys["Environment"]
    # The value works: matplotlib makes the directory and says nothing; without it, it warns.
    assert "MPLCONFIGDIR" in _matplotlib_warnings(None)
    configdir = tmp_path / Path(value).relative_to("/tmp")
    assert _matplotlib_warnings(configdir) == ""
    assert configdir.is_dir()


def test_the_image_installs_the_lock_checking_every_hash():
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines()]
    instructions = [ln for ln in lines if ln and not ln.startswith("#")]
    installs = [ln for ln in instructions if ln.startswith("RUN ") and "pip install" in ln]
    assert installs
    for install in installs:
        words = shlex.split(install)
        assert "--require-hashes" in words
        assert words[words.index("-r") + 1] == "requirements.lock"
    assert "COPY requirements.lock ." in instructions


def _pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line (extras and comments dropped)."""
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s;#\\]+)", line)
        if found:
            pins[re.sub(r"[-_.]+", "-", found[1]).lower()] = found[2]
    return pins


@pytest.mark.parametrize(
    "source, lock",
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_each_lock_pins_what_its_requirements_pin_and_hashes_every_package(source, lock):
    wanted = _pins(ROOT / source)
    if source != "requirements.txt":
        wanted |= _pins(ROOT / "requirements.txt")
    locked = _pins(ROOT / lock)
    assert {name: locked.get(name) for name in wanted} == wanted, f"{lock} is stale: make it again"
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
    unhashed = [e.split()[0] for e in entries if "==" in e.split()[0] and "--hash=sha256:" not in e]
    assert not unhashed


# ----------------------------------------------------------------------------- compose


def test_compose_runs_each_process_of_ours_with_settings_the_code_reads():
    services = our_services()
    assert {name: svc["command"][0] for name, svc in services.items()} == {
        "bot": "bot",
        "worker": "worker",
        "beat": "beat",
        "flower": "flower",
    }
    for name, svc in services.items():
        assert svc["command"][0] in PROCESSES
        assert set(svc["environment"]) <= SETTING_NAMES, name
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]
    assert {"rabbitmq", "redis"} <= set(compose()["services"])
    assert "management" in compose()["services"]["rabbitmq"]["image"]


def test_compose_rabbitmq_creates_classic_queues_on_storage_version_2():
    """What bench/ measures; RabbitMQ's default only from 4.2 (deploy/README.md)."""
    rabbitmq = compose()["services"]["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:4.1")
    erl_args = rabbitmq["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"].split()
    assert erl_args[erl_args.index("classic_queue_default_version") - 1 :][:3] == [
        "-rabbit",
        "classic_queue_default_version",
        "2",
    ]


def test_compose_ports_and_health_checks_match_the_code():
    services = our_services()

    def container_ports(svc: dict[str, Any]) -> set[int]:
        return {int(str(p).rsplit(":", 1)[-1]) for p in svc.get("ports", [])}

    assert container_ports(services["bot"]) == {DEFAULTS.port}
    assert container_ports(services["flower"]) == {DEFAULTS.flower_port}
    assert " ".join(services["bot"]["healthcheck"]["test"]).count(f"127.0.0.1:{DEFAULTS.port}/healthz") == 1
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert f"127.0.0.1:{DEFAULTS.worker_metrics_port}/healthz" in worker_check
    beat_check = " ".join(services["beat"]["healthcheck"]["test"])
    assert f"127.0.0.1:{DEFAULTS.beat_metrics_port}/healthz" in beat_check
    assert services["beat"]["expose"] == [str(DEFAULTS.beat_metrics_port)]
    assert f"127.0.0.1:{DEFAULTS.flower_port}/healthcheck" in " ".join(
        services["flower"]["healthcheck"]["test"]
    )
    for name in ("rabbitmq", "redis"):
        assert compose()["services"][name]["healthcheck"]["test"]


def test_compose_workers_scale_and_beat_runs_twice():
    services = our_services()
    worker = services["worker"]
    # --scale worker=N needs no fixed name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    assert services["beat"]["deploy"]["replicas"] == 2


def test_compose_has_no_default_passwords():
    text = (DEPLOY / "compose.yaml").read_text()
    assert "guest" not in text
    for name, operator, default in re.findall(r"\$\{(\w+)(:?[-?])?([^}]*)\}", text):
        if SECRET_WORDS.search(name):
            assert operator not in (":-", "-") or default == "", f"{name} has a default: {default!r}"
    for must in ("RABBITMQ_PASSWORD", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH", "SLACK_BOT_TOKEN"):
        assert re.search(r"\$\{" + must + r":\?", text), f"{must} must be required (${{{must}:?…}})"
    # Every variable compose reads is listed in the example a user copies.
    example = (DEPLOY / "compose.env.example").read_text()
    for name in set(re.findall(r"\$\{(\w+)", text)) - {"REPORTBOT_IMAGE"}:
        assert re.search(rf"^{name}=", example, re.M) or name in SETTING_NAMES, name


# ----------------------------------------------------------------------------- Kubernetes


def test_kubernetes_deployments_run_our_processes_from_a_secret():
    for component in ("bot", "worker", "beat"):
        c = container(component)
        assert c["args"][0] == component and c["args"][0] in PROCESSES
        sources = c["envFrom"]
        assert {"secretRef": {"name": "reportbot"}} in sources
        assert deployment(component)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        for var in c.get("env", []):
            assert var["name"] in SETTING_NAMES
    assert deployment("beat")["spec"]["replicas"] == 2
    assert not kinds("Secret"), "ship no Secret with values; README says how to make it"
    (config,) = kinds("ConfigMap")
    assert set(config["data"]) <= SETTING_NAMES
    assert int(config["data"]["PORT"]) == DEFAULTS.port
    assert int(config["data"]["WORKER_METRICS_PORT"]) == DEFAULTS.worker_metrics_port
    assert int(config["data"]["BEAT_METRICS_PORT"]) == DEFAULTS.beat_metrics_port


# ----------------------------------------------------------------------------- REPORTS_FILE

# Where every deployment reads the operator's reports.toml: outside the image and the checkout, so
# the repository's sample (SQL reports over data/sample.sqlite) is never what production offers.
REPORTS_FILE = "/etc/reportbot/reports.toml"


def test_every_deployment_reads_the_operators_reports_file_not_the_sample():
    assert DEFAULTS.reports_file == "reports.toml"  # the sample next to run.py: why it must be set
    for name, svc in our_services().items():
        assert svc["environment"]["REPORTS_FILE"] == REPORTS_FILE, name
        assert any(v.endswith(":/etc/reportbot:ro") for v in svc["volumes"]), name
    (config,) = kinds("ConfigMap")
    assert config["data"]["REPORTS_FILE"] == REPORTS_FILE
    for component in ("bot", "worker", "beat"):
        mounts = {m["mountPath"]: m["name"] for m in container(component)["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment(component)["spec"]["template"]["spec"]["volumes"]}
        reports = volumes[mounts["/etc/reportbot"]]["configMap"]
        assert reports["optional"] is True, component  # no ConfigMap: no SQL reports, pods still start
        keys = unit(f"reportbot-{component}.service")
        assert f"REPORTS_FILE={REPORTS_FILE}" in keys["Environment"], component
    assert REPORTS_FILE in (DEPLOY / "README.md").read_text()


def test_a_missing_reports_file_means_no_sql_reports(tmp_path):
    from tasks.reports import Registry
    from tasks.reports.sql import load_sql_reports
    from tasks.schedules.schedule import load_static_schedules

    missing = tmp_path / "reports.toml"
    assert load_sql_reports(missing, Registry()) == []
    assert load_static_schedules(missing) == ([], [])


def test_kubernetes_probes_hit_healthz_on_the_right_ports():
    for component, port in (
        ("bot", DEFAULTS.port),
        ("worker", DEFAULTS.worker_metrics_port),
        ("beat", DEFAULTS.beat_metrics_port),
    ):
        c = container(component)
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] == "/healthz"
            assert named.get(get["port"], get["port"]) == port
    (service,) = kinds("Service")
    (port,) = service["spec"]["ports"]
    bot_ports = {p["name"]: p["containerPort"] for p in container("bot")["ports"]}
    assert bot_ports[port["targetPort"]] == DEFAULTS.port
    assert service["spec"]["selector"] == deployment("bot")["spec"]["selector"]["matchLabels"]


def test_kubernetes_worker_autoscaler_watches_our_queue():
    (scaler,) = kinds("ScaledObject")
    assert scaler["spec"]["scaleTargetRef"]["name"] == deployment("worker")["metadata"]["name"]
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == QUEUE
    assert trigger["metadata"]["hostFromEnv"] in SETTING_NAMES


# ----------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("process", ["bot", "worker", "beat", "flower"])
def test_systemd_units_start_run_py_as_an_unprivileged_user(process):
    keys = unit(f"reportbot-{process}.service")
    (exec_start,) = keys["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0].endswith("/python") and argv[1] == "run.py" and argv[2] == process and process in PROCESSES
    assert keys["User"] != ["root"]
    assert keys["EnvironmentFile"]
    for assignment in keys.get("Environment", []):
        assert assignment.split("=", 1)[0] in SETTING_NAMES | {"MPLCONFIGDIR"}


# ----------------------------------------------------------------------------- Slack app


@pytest.mark.parametrize(
    "file, socket_mode",
    [("slack-app-manifest.yaml", False), ("slack-app-manifest.socket-mode.yaml", True)],
)
def test_slack_app_manifest_is_the_one_the_code_builds(file, socket_mode):
    manifest = yaml.safe_load((DEPLOY / file).read_text())
    assert manifest == build_manifest(socket_mode=socket_mode), "regenerate: python -m bot.manifest"
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == DEFAULTS.slack_command
    assert manifest["settings"]["socket_mode_enabled"] is socket_mode
    if not socket_mode:
        assert command["url"].endswith(EVENTS_PATH)
        assert manifest["settings"]["interactivity"]["request_url"].endswith(EVENTS_PATH)
        assert manifest["settings"]["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    else:
        assert "request_url" not in manifest["settings"]["event_subscriptions"]


def test_the_manifest_turns_on_the_home_tab_the_shortcut_and_the_events_the_bot_listens_to():
    manifest = build_manifest()
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True, (
        "the DMs a schedule's creator gets"
    )
    [shortcut] = manifest["features"]["shortcuts"]
    assert shortcut == {**shortcut, "type": "global", "callback_id": "run_report", "name": "Run a report"}
    assert 1 <= len(shortcut["name"]) <= 24 and 1 <= len(shortcut["description"]) <= 150
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert (
        set(events)
        == set(BOT_EVENTS)
        == {
            "app_home_opened",
            "channel_archive",
            "group_archive",
            "channel_left",
            "member_left_channel",
            "app_uninstalled",
            "tokens_revoked",
        }
    )


def test_the_readme_gives_both_ways_to_create_the_slack_app():
    """Both manifests, what each needs, and the HTTP one's placeholder host to replace."""
    steps = markdown_section(ROOT / "README.md", "Running it against Slack")
    for file in ("slack-app-manifest.yaml", "slack-app-manifest.socket-mode.yaml"):
        assert f"deploy/{file}" in steps and (DEPLOY / file).is_file(), file
    placeholder = EXAMPLE_URL.removeprefix("https://")
    assert placeholder in (DEPLOY / "slack-app-manifest.yaml").read_text()
    assert placeholder not in (DEPLOY / "slack-app-manifest.socket-mode.yaml").read_text()
    assert f"replace `{placeholder}`" in steps
    assert "`connections:write`" in steps and "`SLACK_APP_TOKEN`" in steps
    assert EVENTS_PATH in steps and "`SLACK_SIGNING_SECRET`" in steps


def web_api_calls() -> set[str]:
    """The WebClient methods called anywhere in the bot and the workers (not the fake Slack)."""
    api = {name for name, value in vars(WebClient).items() if callable(value) and not name.startswith("_")}
    api -= {"api_call"}
    called: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "tasks").rglob("*.py"), ROOT / "run.py"]:
        if "sandbox" in path.parts:
            continue
        called |= set(re.findall(r"\.(\w+)\(", path.read_text())) & api
    return called


def test_the_scopes_are_exactly_those_of_the_web_api_methods_the_code_calls():
    called = web_api_calls()
    assert "chat_postMessage" in called  # the scan sees the code
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"add these methods and their scopes to bot.manifest.METHOD_SCOPES: {unknown}"
    needed = {"commands"} | {METHOD_SCOPES[m] for m in called if METHOD_SCOPES[m]}
    needed |= {scope for scope in EVENT_SCOPES.values() if scope}
    assert set(SCOPES) == needed, "bot.manifest.SCOPES must be what the calls and events need, nothing more"
