"""Every API operation maps to exactly one action, and the API reference's table says which.

The table must list every ``/v1`` route of the server, name only actions of
``policies.ACTIONS``, and use each of them; and each operation, sent by a key with
no permissions, must be checked against (and audited as) the action the table names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rotor.access import delegation, policies
from rotor.api.app import create_app
from tests.access.conftest import World, events_of
from tests.conftest import make_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: The table of actions in the API reference (docs/reference/api.md, "## Actions").
API_DOC = (DOCS / "reference" / "api.md").read_text()
ACCESS_DOC = (DOCS / "how-to" / "access-control.md").read_text()
ROW = re.compile(
    r"^\| `(GET|POST|PUT|PATCH|DELETE) (/v1/[^`]*|/metrics)` \| (`([a-z]+:\w+)`|none[^|]*) \|"
)
NO_ACTION = "none"


def documented() -> dict[tuple[str, str], str]:
    """(method, path) -> action, from the API reference's table."""
    table: dict[tuple[str, str], str] = {}
    for line in API_DOC.split("\n## Actions\n")[1].split("\n## ")[0].splitlines():
        match = ROW.match(line)
        if match:
            key = (match.group(1), match.group(2))
            assert key not in table, f"{key} is in the table twice"
            table[key] = match.group(4) or NO_ACTION
    return table


def served(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every ``/v1`` operation and ``/metrics`` (authenticated the same
    way), from the server's OpenAPI document."""
    app = create_app(make_settings(tmp_path)).app
    try:
        paths = app.openapi()["paths"]
    finally:
        app.state.store.close()
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/") or path == "/metrics"
        for method in operations
    }


def test_the_table_lists_every_route_and_every_action(tmp_path: Path) -> None:
    table = documented()
    assert set(table) == served(tmp_path)
    actions = set(table.values()) - {NO_ACTION}
    # The delegation actions are checked when a rotation is configured, not by a route.
    assert actions == set(policies.ACTIONS) - set(delegation.ACTIONS)


def test_the_delegation_actions_are_documented() -> None:
    for action in delegation.ACTIONS:
        section = ACCESS_DOC.split("## Delegation")[1].split("\n## ")[0]
        assert f"`{action}`" in section


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/secrets"): {"name": "{secret}-new"},
    ("PATCH", "/v1/secrets/{name}"): {},
    ("POST", "/v1/secrets/{name}:versions"): {"value": "x"},
    ("POST", "/v1/secrets/{name}:stage"): {"stage": "Current", "move_to_version": "v"},
    ("POST", "/v1/passwords"): {},
    ("PUT", "/v1/secrets/{name}:rotation"): {"function": "generated-password"},
    ("POST", "/v1/secrets/{name}:rotate"): {},
    ("POST", "/v1/principals"): {"name": "{principal}-new"},
    ("POST", "/v1/principals/{name}/access-keys"): {},
    ("PUT", "/v1/policies/{name}"): {"document": {}},
    ("POST", "/v1/assume-role"): {"role": "{role}"},
    ("PUT", "/v1/functions/{name}"): {"kind": "python-handler", "handler": "json:loads"},
    ("POST", "/v1/notifications"): {"url": "https://hooks.example.com/rotor", "events": ["*"]},
}
OPEN = {
    ("GET", "/v1/secrets"),
    ("GET", "/v1/principals"),
    ("GET", "/v1/policies"),
    ("GET", "/v1/functions"),
    ("GET", "/v1/due-rotations"),
    ("GET", "/v1/status"),
    ("GET", "/v1/whoami"),
}


def fill(template: Any, names: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**names)
    if isinstance(template, dict):
        return {k: fill(v, names) for k, v in template.items()}
    return template


def test_each_operation_is_checked_as_its_documented_action(world: World) -> None:
    secret = f"{world.name('ops')}/db"
    world.admin.create_secret(secret, value="v")
    rotation = world.admin.configure_rotation(secret, function="generated-password").started
    assert rotation is not None
    world.admin.wait_for_rotation(rotation.id, timeout=30)
    role = world.name("ops-role")
    world.admin.create_principal(role, kind="role")
    nobody = world.actor("ops-nobody")
    policy = world.name("ops-policy")
    world.admin.put_policy(
        policy,
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "kms:ListSecrets", "Resource": "*"}],
        },
    )
    names = {
        "secret": secret,
        "principal": nobody.name,
        "role": role,
        "policy": policy,
        "key_id": nobody.key.access_key_id,
        "rotation_id": rotation.id,
        "notification_id": "ntf_0",
        "delivery_id": "1",
    }
    sent: dict[str, tuple[tuple[str, str], str]] = {}
    with nobody.http() as http:
        for (method, path), action in documented().items():
            name = secret if path.startswith("/v1/secrets/") else names["principal"]
            if path.startswith("/v1/policies/"):
                name = policy
            url = fill(path.replace("{name}", "{n}"), {**names, "n": name})
            body = fill(BODIES.get((method, path)), names)
            response = http.request(method, url, json=body)
            # Listings show only what may be listed, and whoami needs no action.
            expected = 200 if (method, path) in OPEN else 403
            assert response.status_code == expected, (method, path, response.text)
            sent[response.headers["x-request-id"]] = ((method, path), action)
    events = {e.request_id: e for e in events_of(world.admin, principal=nobody.name)}
    for request_id, (operation, action) in sent.items():
        event = events[request_id]
        if action == NO_ACTION:
            assert event.action == f"{operation[0]} {fill(operation[1], names)}", operation
        else:
            assert event.action == action, operation


AWS_DOC = (DOCS / "reference" / "aws-api.md").read_text()
AWS_ROW = re.compile(r"^\| (`secretsmanager:\w+`(?:, `secretsmanager:\w+`)*) \| (.*) \|$")


def test_the_aws_vocabulary_table_is_the_mapping() -> None:
    section = AWS_DOC.split("\n## Policies in the AWS vocabulary\n")[1].split("\n## ")[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = AWS_ROW.match(line)
        if match:
            rotor_actions = set(re.findall(r"`((?:kms|rotor|sts):\w+)`", match.group(2)))
            for aws in re.findall(r"`(secretsmanager:\w+)`", match.group(1)):
                assert aws not in table, f"{aws} is in the table twice"
                table[aws] = rotor_actions
    assert table == {aws: set(rotor) for aws, rotor in policies.AWS_ACTIONS.items()}
