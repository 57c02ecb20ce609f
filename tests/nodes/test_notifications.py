"""Notifications from several nodes: each event is delivered once, whichever node's
sender claims it, and the event log is read in commit order from any node."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from tests.nodes.conftest import Cluster, admin_http, json_of, wait_until
from tests.services.webhook_receiver import DELIVERING, Receiver

COUNT = 40


def test_each_event_is_delivered_once_by_one_of_three_nodes(
    make_cluster: Callable[..., Cluster],
) -> None:
    receiver = Receiver().start()
    try:
        cluster = make_cluster(3, env=DELIVERING)
        first, *others = cluster.nodes
        with admin_http(first) as http:
            hook = json_of(
                http.post(
                    "/v1/notifications",
                    json={"url": receiver.url, "events": ["secret.created"], "prefix": "many/"},
                ),
                201,
            )

        def create(index: int) -> None:
            node = cluster.nodes[index % len(cluster.nodes)]
            with admin_http(node) as http:
                body = {"name": f"many/{index:03d}", "value": "v"}
                json_of(http.post("/v1/secrets", json=body), 201)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(COUNT)))

        def all_delivered() -> list[dict[str, Any]] | None:
            with admin_http(others[-1]) as http:
                found = json_of(
                    http.get("/v1/deliveries", params={"state": "delivered", "page_size": 100})
                )["deliveries"]
            return found if len(found) == COUNT else None

        delivered = wait_until(all_delivered, f"{COUNT} deliveries")
        received = receiver.of_type("secret.created")
    finally:
        receiver.stop()
    names = sorted(r.verified(hook["secret"])["data"]["secret"] for r in received)
    assert names == [f"many/{i:03d}" for i in range(COUNT)]
    ids = [r.headers["webhook-id"] for r in received]
    assert len(set(ids)) == len(ids) == COUNT
    assert {d["attempts"] for d in delivered} == {1}, [d["last_error"] for d in delivered]
    # Recorded by every node (each one's sender polls the one outbox).
    assert len({r.event["node"] for r in received}) == 3
