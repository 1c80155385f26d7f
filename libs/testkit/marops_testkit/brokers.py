"""A throwaway native Kafka broker with a configuration of the test's own (security
listeners, SCRAM users), from the jars infra/kafka.sh resolves into .infra/kafka/lib.

The shared development broker stays plain; a test that needs another listener setup
starts one of these for its module and it is killed afterwards. Ports come from the
caller (see ``extra_port``), so checkouts that set their own MAROPS_KAFKA_PORT do not
collide.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = float(os.environ.get("MAROPS_KAFKA_START_TIMEOUT", "180"))


def extra_port(offset: int) -> int:
    """A port next to this checkout's broker (MAROPS_KAFKA_PORT + offset): infra/ keeps
    +1 for the controller; tests use +2..+9 for their own brokers, +10..+15 is the
    three-broker cluster of infra/kafka-cluster.sh."""
    return int(os.environ.get("MAROPS_KAFKA_PORT", "19092")) + offset


def kafka_lib(repo_root: Path) -> Path:
    infra = Path(os.environ.get("MAROPS_INFRA_DIR", ".infra"))
    lib = (infra if infra.is_absolute() else repo_root / infra) / "kafka" / "lib"
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"no Kafka jars in {lib}: infra/kafka.sh start resolves them (make test runs it)")
    return lib


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Broker:
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def new_cluster_id() -> str:
    """16 random bytes as unpadded base64url, the form of a Kafka Uuid, never starting with
    '-' (the storage tool would read it as an option: one start in 64 failed so), as Kafka's
    own ``Uuid.randomUuid`` and infra/kafka.sh do."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_broker(repo_root: Path, workdir: Path, properties: dict[str, str], *, ports: list[int],
                 scram_users: list[str] | None = None) -> Broker:
    """Format ``workdir/data`` and start a single KRaft node (broker+controller) with
    ``properties``; ``scram_users`` are StorageTool ``--add-scram`` values
    (``SCRAM-SHA-256=[name=u,password=p]``). Returns once every port in ``ports`` answers
    and the log says the server started."""
    taken = [p for p in ports if port_open(p)]
    if taken:
        raise RuntimeError(f"ports {taken} are in use by another process (set MAROPS_KAFKA_PORT to move them)")
    lib = kafka_lib(repo_root)
    log4j = repo_root / "infra" / "log4j2.properties"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in {"log.dirs": str(workdir / "data"), **properties}.items()))
    classpath = f"{lib}/*"
    cluster_id = new_cluster_id()
    fmt = ["java", "-cp", classpath, f"-Dlog4j2.configurationFile={log4j}", "kafka.tools.StorageTool", "format",
           "-t", cluster_id, "-c", str(config)]
    for user in scram_users or []:
        fmt += ["--add-scram", user]
    formatted = subprocess.run(fmt, capture_output=True, text=True, timeout=180)
    if formatted.returncode != 0:
        raise RuntimeError(f"formatting the test broker failed:\n{formatted.stdout}{formatted.stderr}")
    log = workdir / "kafka.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true", "-cp", classpath,
             f"-Dlog4j2.configurationFile={log4j}", "kafka.Kafka", str(config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    broker = Broker(process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test broker exited with {process.returncode}:\n{broker.log_tail()}")
        if all(port_open(p) for p in ports) and "Kafka Server started" in log.read_text(errors="replace"):
            return broker
        time.sleep(0.5)
    broker.kill()
    raise RuntimeError(f"the test broker did not start within {START_TIMEOUT:.0f}s:\n{broker.log_tail()}")
