"""Fleet fixtures: one three-node RabbitMQ cluster for the whole session (it takes ~20 s to form)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.fakes.rabbitmq import RabbitCluster, rabbitmq_available


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[RabbitCluster]:
    if not rabbitmq_available():
        pytest.fail(
            "rabbitmq-server is not installed: scripts/test.sh installs it (apt-get install rabbitmq-server)"
        )
    cluster = RabbitCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(rabbit_cluster: RabbitCluster) -> Iterator[RabbitCluster]:
    """The session's cluster, with every node running again after the test (a test may kill one)."""
    yield rabbit_cluster
    for node in rabbit_cluster.nodes:
        if not rabbit_cluster.alive(node.index):
            rabbit_cluster.restart(node.index)
    rabbit_cluster.ctl(0, "await_online_nodes", str(len(rabbit_cluster.nodes)))


@pytest.fixture
def site() -> str:
    """A site id of its own per test, so queues and topics never see another test's messages."""
    return f"st{uuid.uuid4().hex[:8]}"
