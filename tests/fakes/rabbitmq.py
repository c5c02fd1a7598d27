"""A real three-node RabbitMQ cluster on loopback, for the fleet tests and bench/fleet.py.

Debian's `rabbitmq-server` (3.10, MQTT 3.1.1 plugin), three nodes on one host, each with its own node name,
ports, data/log directories, configuration and enabled-plugins file under one temporary directory; one Erlang
cookie (in a private HOME) and a private `epmd` on its own port, so nothing is shared with a system RabbitMQ
or another test run and nothing outlives `close()`.

Three nodes, not two: the 3.10 MQTT plugin tracks client ids in a Raft cluster that needs a majority, so a
two-node cluster refuses new MQTT connections once a node is lost. Durable MQTT sessions and the centre's
queue are quorum queues (replicated on all three), so losing any one node loses nothing acknowledged.

    cluster = RabbitCluster(); cluster.start()
    cluster.mqtt_port(0), cluster.amqp_port(0)
    cluster.kill(1); cluster.restart(1)
    cluster.close()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"
PLUGINS = "[rabbitmq_mqtt,rabbitmq_consistent_hash_exchange]."


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, however it dies (a killed pytest
    must not leave Erlang nodes behind; they run in their own session, out of reach of its process group)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _remove_orphaned_workdirs() -> None:
    """Directories of runs whose process is gone (a killed pytest cannot clean up; its nodes died with it)."""
    for path in Path("/tmp").glob("rabbit-*-*"):
        owner = path.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


def rabbitmq_available() -> bool:
    return (RABBIT_BIN / "rabbitmq-server").is_file()


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class Node:
    index: int
    name: str  # e.g. "ce-1a2b3c-1@localhost"
    amqp_port: int
    dist_port: int
    mqtt_port: int
    base: Path
    process: subprocess.Popen[bytes] | None = None
    log_lines: list[str] = field(default_factory=list)


class RabbitCluster:
    """Three clustered RabbitMQ nodes with the MQTT plugin; see the module docstring."""

    def __init__(self, nodes: int = 3, workdir: Path | None = None) -> None:
        _remove_orphaned_workdirs()
        # The owner's pid in the name: a leftover of a killed run can be told from a live run's directory.
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"rabbit-{os.getpid()}-", dir="/tmp"))
        self.home = self.workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        os.chmod(cookie, 0o600)
        tag = secrets.token_hex(3)
        ports = _free_ports(3 * nodes + 1)
        self.epmd_port = ports[-1]
        self.nodes = [
            Node(
                index=i,
                name=f"ce{tag}n{i}@localhost",
                amqp_port=ports[3 * i],
                dist_port=ports[3 * i + 1],
                mqtt_port=ports[3 * i + 2],
                base=self.workdir / f"node{i}",
            )
            for i in range(nodes)
        ]
        self._epmd: subprocess.Popen[bytes] | None = None
        for node in self.nodes:
            self._write_node_files(node)

    # ------------------------------------------------------------------------------------ set-up
    def _write_node_files(self, node: Node) -> None:
        (node.base / "mnesia").mkdir(parents=True, exist_ok=True)
        (node.base / "log").mkdir(parents=True, exist_ok=True)
        (node.base / "enabled_plugins").write_text(PLUGINS)
        (node.base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}",
                    f"mqtt.listeners.tcp.default = 127.0.0.1:{node.mqtt_port}",
                    "mqtt.allow_anonymous = true",
                    "mqtt.vhost = /",
                    "mqtt.exchange = amq.topic",
                    # Durable MQTT sessions (clean_session=false, QoS 1) on replicated queues: a session
                    # survives the loss of the node it was created on.
                    "mqtt.durable_queue_type = quorum",
                    "loopback_users = none",
                    "log.console = false",
                    "log.file.level = warning",
                    "cluster_partition_handling = pause_minority",
                    "disk_free_limit.absolute = 50MB",
                    "vm_memory_high_watermark.absolute = 1GB",
                    "",
                ]
            )
        )

    def _env(self, node: Node) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_") and k != "ERL_EPMD_PORT"}
        env.update(
            HOME=str(self.home),
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(node.amqp_port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.base / "log"),
            RABBITMQ_CONFIG_FILE=str(node.base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(node.base / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(node.base / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(node.base / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(node.base / "node.pid"),
            # The start script then execs the VM instead of forking it behind a signal-relaying shell, so
            # the node is the process we started: it gets our signals and dies with us (_die_with_parent).
            RUNNING_UNDER_SYSTEMD="true",
            # Two shared cores: idle schedulers must sleep, not spin (the default busy-wait burns CPU
            # that the appliances' processes need), and one node needs no more than two schedulers.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none",
        )
        return env

    def _start_epmd(self) -> None:
        self._epmd = subprocess.Popen(
            [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 10
        while not _port_open(self.epmd_port):
            if time.monotonic() > deadline:
                raise RuntimeError("epmd did not start")
            time.sleep(0.05)

    def ctl(self, index: int, *args: str, timeout_s: float = 120.0, check: bool = True) -> str:
        node = self.nodes[index]
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
            env=self._env(node),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} on {node.name} failed: {result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def _spawn(self, node: Node) -> None:
        node.process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self._env(node),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: kill() takes beam and its helpers together
            preexec_fn=_die_with_parent,
        )

    def _wait_ready(self, node: Node, timeout_s: float) -> None:
        """Ready = the node's MQTT listener accepts connections (it opens last, after the plugin boots)."""
        deadline = time.monotonic() + timeout_s
        while not _port_open(node.mqtt_port):
            if node.process is not None and node.process.poll() is not None:
                raise RuntimeError(
                    f"{node.name} exited with {node.process.returncode}:\n{self.node_log(node)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{node.name} did not open MQTT within {timeout_s} s:\n{self.node_log(node)}"
                )
            time.sleep(0.2)

    def node_log(self, node: Node) -> str:
        logs = sorted((node.base / "log").glob("*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)

    def start(self, timeout_s: float = 180.0) -> None:
        """Start every node, join the others to the first, wait until all serve MQTT."""
        self._start_epmd()
        try:
            for node in self.nodes:
                self._spawn(node)
            for node in self.nodes:
                self._wait_ready(node, timeout_s)
            first = self.nodes[0].name
            for node in self.nodes[1:]:
                self.ctl(node.index, "stop_app")
                self.ctl(node.index, "reset")
                self.ctl(node.index, "join_cluster", first)
                self.ctl(node.index, "start_app")
            for node in self.nodes:
                self._wait_ready(node, timeout_s)
            self.ctl(0, "await_online_nodes", str(len(self.nodes)), timeout_s=timeout_s)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------------ faults
    def kill(self, index: int) -> None:
        """SIGKILL the node's whole process group: a crash, not a shutdown."""
        node = self.nodes[index]
        process, node.process = node.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        # The script is gone at once; beam's sockets close a moment later. Wait, so that a restart's
        # readiness check cannot mistake the dying node's listener for the new one.
        deadline = time.monotonic() + 10
        while _port_open(node.mqtt_port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, index: int, timeout_s: float = 180.0) -> None:
        node = self.nodes[index]
        self.kill(index)
        self._spawn(node)
        self._wait_ready(node, timeout_s)

    def alive(self, index: int) -> bool:
        process = self.nodes[index].process
        return process is not None and process.poll() is None

    # ------------------------------------------------------------------------------------ addresses
    def mqtt_port(self, index: int) -> int:
        return self.nodes[index].mqtt_port

    def amqp_port(self, index: int) -> int:
        return self.nodes[index].amqp_port

    def mqtt_endpoints(self, first: int = 0) -> list[tuple[str, int]]:
        """Every node's MQTT address, starting with `first` (an appliance's primary, then its fallbacks)."""
        order = [*range(first, len(self.nodes)), *range(first)]
        return [("127.0.0.1", self.nodes[i].mqtt_port) for i in order]

    def close(self) -> None:
        for node in self.nodes:
            process, node.process = node.process, None
            if process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._epmd.pid, signal.SIGKILL)
            self._epmd.wait(10)
            self._epmd = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RabbitCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
