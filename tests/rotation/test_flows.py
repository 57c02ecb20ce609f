"""Flow definitions: parsing the cloud workflow shape, refusing bad flows, building events."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from typing import Any

import pytest
import yaml

from rotor import errors
from rotor.rotation import flows
from rotor.rotation.flows import Flow, Mapping, SourceKind, Task

# The flow definitions of the two reference scenarios, verbatim (managed RDS accounts,
# then a self-managed database), including the placeholder for the function's ARN.
RDS_FLOW = textwrap.dedent(
    """\
      version: v1
      type: flow
      steps:
        - type: task
          name: RotateSecretNew
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: InstanceId
              source: $input.payload.InstanceId
            - target: Step
              source: new
        - type: task
          name: RotateSecretSet
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: InstanceId
              source: $input.payload.InstanceId
            - target: Step
              source: set
            - target: VersionId
              source: $local.VersionId
        - type: task
          name: RotateSecretEnd
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: InstanceId
              source: $input.payload.InstanceId
            - target: Step
              source: end
            - target: VersionId
              source: $local.VersionId
"""
)

SELF_MANAGED_FLOW = textwrap.dedent(
    """\
      version: v1
      type: flow
      steps:
        - type: task
          name: RotateSecretNew
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: Step
              source: new
        - type: task
          name: RotateSecretSet
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: Step
              source: set
            - target: VersionId
              source: $local.VersionId
        - type: task
          name: RotateSecretTest
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: Step
              source: test
            - target: VersionId
              source: $local.VersionId
        - type: task
          name: RotateSecretEnd
          resourceArn: 已创建的函数arn
          inputMappings:
            - target: SecretName
              source: $input.payload.SecretName
            - target: RegionId
              source: $input.payload.RegionId
            - target: Step
              source: end
            - target: VersionId
              source: $local.VersionId
"""
)

PLACEHOLDER_ARN = "已创建的函数arn"


def task(name: str, step: object, **fields: Any) -> dict[str, Any]:
    """A step of a flow definition as YAML would load it."""
    mappings: list[Any] = [
        {"target": "SecretName", "source": "$input.payload.SecretName"},
        {"target": "Step", "source": step},
    ]
    if step != "new":
        mappings.append({"target": "VersionId", "source": "$local.VersionId"})
    body: dict[str, Any] = {
        "type": "task",
        "name": name,
        "resourceArn": "fn",
        "inputMappings": mappings,
    }
    body.update(fields)
    return body


def standard_steps() -> list[dict[str, Any]]:
    return [task("New", "new"), task("Set", "set"), task("Test", "test"), task("End", "end")]


def flow_text(steps: object, **top: Any) -> str:
    document: dict[str, Any] = {"version": "v1", "type": "flow", "steps": steps}
    document.update(top)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def refused(text: str) -> str:
    with pytest.raises(errors.InvalidParameter) as caught:
        flows.parse_flow(text)
    return caught.value.message


# -- the reference flows -----------------------------------------------------------------


def test_parse_reference_rds_flow() -> None:
    flow = flows.parse_flow(RDS_FLOW)
    assert [t.name for t in flow.tasks] == ["RotateSecretNew", "RotateSecretSet", "RotateSecretEnd"]
    assert [t.step for t in flow.tasks] == ["new", "set", "end"]
    assert {t.resource for t in flow.tasks} == {PLACEHOLDER_ARN}
    assert not flow.passthrough_payload
    assert flow.tasks[1].mappings == (
        Mapping(target="SecretName", source_kind=SourceKind.INPUT, key_or_value="SecretName"),
        Mapping(target="RegionId", source_kind=SourceKind.INPUT, key_or_value="RegionId"),
        Mapping(target="InstanceId", source_kind=SourceKind.INPUT, key_or_value="InstanceId"),
        Mapping(target="Step", source_kind=SourceKind.LITERAL, key_or_value="set"),
        Mapping(target="VersionId", source_kind=SourceKind.LOCAL, key_or_value="VersionId"),
    )


def test_parse_reference_self_managed_flow() -> None:
    flow = flows.parse_flow(SELF_MANAGED_FLOW)
    assert [(t.name, t.step) for t in flow.tasks] == [
        ("RotateSecretNew", "new"),
        ("RotateSecretSet", "set"),
        ("RotateSecretTest", "test"),
        ("RotateSecretEnd", "end"),
    ]
    assert {t.resource for t in flow.tasks} == {PLACEHOLDER_ARN}


def test_reference_flow_events() -> None:
    """The trigger message of the reference scenario, then VersionId from the new step."""
    flow = flows.parse_flow(RDS_FLOW)
    payload = {"SecretName": "app-db", "RegionId": "cn-hangzhou", "InstanceId": "rm-1"}
    new, set_, end = flow.tasks
    assert flow.build_event(new, payload, {}) == {
        "SecretName": "app-db",
        "RegionId": "cn-hangzhou",
        "InstanceId": "rm-1",
        "Step": "new",
    }
    local = {"VersionId": "v-42"}
    assert set_.build_event(payload, local) == {
        "SecretName": "app-db",
        "RegionId": "cn-hangzhou",
        "InstanceId": "rm-1",
        "Step": "set",
        "VersionId": "v-42",
    }
    assert flow.build_event(end, payload, local)["Step"] == "end"


# -- events ------------------------------------------------------------------------------


def test_event_omits_absent_sources_and_keeps_literals() -> None:
    steps = standard_steps()
    steps[1]["inputMappings"].extend(
        [
            {"target": "Region", "source": "$input.payload.RegionId"},
            {"target": "Mode", "source": "strict"},
            {"target": "Retries", "source": 3},
            {"target": "Dry", "source": False},
        ]
    )
    flow = flows.parse_flow(flow_text(steps))
    event = flow.build_event(flow.tasks[1], {"SecretName": "s", "Other": "x"}, {})
    assert event == {
        "SecretName": "s",
        "Step": "set",
        "Mode": "strict",
        "Retries": 3,
        "Dry": False,
    }


def test_parsed_flow_event_is_exactly_the_mappings() -> None:
    flow = flows.parse_flow(flow_text(standard_steps()))
    event = flow.build_event(
        flow.tasks[2], {"SecretName": "s", "RegionId": "r"}, {"VersionId": "v", "Extra": 1}
    )
    assert event == {"SecretName": "s", "Step": "test", "VersionId": "v"}


def test_mapping_source_and_kind() -> None:
    literal = Mapping(target="Step", source_kind=SourceKind.LITERAL, key_or_value="new")
    assert literal.source == "new"
    assert Mapping(target="A", source_kind=SourceKind.INPUT, key_or_value="B").source == (
        "$input.payload.B"
    )
    assert Mapping(target="A", source_kind=SourceKind.LOCAL, key_or_value="B").source == "$local.B"
    assert [str(kind) for kind in SourceKind] == ["input", "local", "literal"]
    assert SourceKind("local") is SourceKind.LOCAL


# -- the default flow --------------------------------------------------------------------


def test_default_flow() -> None:
    flow = flows.default_flow("generated-password")
    assert flow.passthrough_payload
    assert [t.step for t in flow.tasks] == ["new", "set", "test", "end"]
    assert [t.name for t in flow.tasks] == [
        "RotateSecretNew",
        "RotateSecretSet",
        "RotateSecretTest",
        "RotateSecretEnd",
    ]
    assert {t.resource for t in flow.tasks} == {"generated-password"}
    assert [m.target for m in flow.tasks[0].mappings] == ["SecretName", "Step"]
    for later in flow.tasks[1:]:
        assert [m.target for m in later.mappings] == ["SecretName", "Step", "VersionId"]


def test_default_flow_passes_the_payload_through() -> None:
    flow = flows.default_flow("generated-password")
    payload = {"SecretName": "s", "PasswordField": "pw", "Step": "end"}
    assert flow.build_event(flow.tasks[0], payload, {}) == {
        "SecretName": "s",
        "PasswordField": "pw",
        "Step": "new",
    }
    assert flow.build_event(flow.tasks[1], payload, {"VersionId": "v1"}) == {
        "SecretName": "s",
        "PasswordField": "pw",
        "Step": "set",
        "VersionId": "v1",
    }


def test_default_flow_mapped_targets_never_come_from_the_payload() -> None:
    flow = flows.default_flow("fn")
    event = flow.build_event(flow.tasks[3], {"SecretName": "s", "VersionId": "forged"}, {})
    assert event == {"SecretName": "s", "Step": "end"}


def test_default_flow_needs_a_function() -> None:
    with pytest.raises(errors.InvalidParameter, match="function"):
        flows.default_flow(" ")


# -- storage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flow",
    [
        flows.parse_flow(RDS_FLOW),
        flows.parse_flow(SELF_MANAGED_FLOW),
        flows.default_flow("generated-password"),
    ],
    ids=["rds", "self-managed", "default"],
)
def test_json_round_trip(flow: Flow) -> None:
    text = flow.to_json()
    assert json.loads(text)["version"] == "v1"
    assert Flow.from_json(text) == flow


def test_json_keeps_literal_types_and_unicode() -> None:
    steps = standard_steps()
    steps[0]["inputMappings"].append({"target": "Count", "source": 2})
    flow = flows.parse_flow(flow_text(steps))
    again = Flow.from_json(flow.to_json())
    assert again.tasks[0].mappings[-1].key_or_value == 2
    assert PLACEHOLDER_ARN in flows.parse_flow(RDS_FLOW).to_json()


def test_stored_json_is_validated_again() -> None:
    document = json.loads(flows.default_flow("fn").to_json())
    document["steps"][0]["type"] = "parallel"
    with pytest.raises(errors.InvalidParameter, match=r"step 1 \(RotateSecretNew\)"):
        Flow.from_json(json.dumps(document))
    with pytest.raises(errors.InvalidParameter, match="not valid JSON"):
        Flow.from_json("{")


def test_flow_files_cannot_ask_for_passthrough() -> None:
    message = refused(flow_text(standard_steps(), passthroughPayload=True))
    assert "passthroughPayload not supported" in message


def test_values_are_frozen() -> None:
    flow = flows.default_flow("fn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.passthrough_payload = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.tasks[0].name = "x"  # type: ignore[misc]


def test_task_without_step_mapping_has_no_step() -> None:
    bare = Task(name="Bare", resource="fn", mappings=())
    with pytest.raises(errors.InvalidParameter, match="Bare"):
        _ = bare.step


# -- accepted variations -----------------------------------------------------------------


def test_minimal_flow_new_then_end() -> None:
    flow = flows.parse_flow(flow_text([task("N", "new"), task("E", "end")]))
    assert [t.step for t in flow.tasks] == ["new", "end"]


def test_repeated_set_and_test_steps_are_allowed() -> None:
    steps = [
        task("New", "new"),
        task("SetPrimary", "set"),
        task("SetReplica", "set", resourceArn="acs:fc:cn-hangzhou:1:functions/replica"),
        task("Test", "test"),
        task("End", "end"),
    ]
    flow = flows.parse_flow(flow_text(steps))
    assert flow.tasks[2].resource == "acs:fc:cn-hangzhou:1:functions/replica"


def test_twenty_steps_are_allowed() -> None:
    steps = [task("New", "new")]
    steps += [task(f"Set{i}", "set") for i in range(18)]
    steps += [task("End", "end")]
    assert len(flows.parse_flow(flow_text(steps)).tasks) == 20


def test_descriptions_are_allowed() -> None:
    steps = standard_steps()
    steps[0]["description"] = "make new credentials"
    assert flows.parse_flow(flow_text(steps, description="rotation")).tasks[0].name == "New"


# -- refusals ----------------------------------------------------------------------------


def with_step(index: int, **fields: Any) -> str:
    steps = standard_steps()
    steps[index].update(fields)
    return flow_text(steps)


def without(index: int, field: str) -> str:
    steps = standard_steps()
    del steps[index][field]
    return flow_text(steps)


def with_mappings(index: int, mappings: Any) -> str:
    return with_step(index, inputMappings=mappings)


def extra_mapping(index: int, mapping: Any) -> str:
    steps = standard_steps()
    steps[index]["inputMappings"].append(mapping)
    return flow_text(steps)


STEP_REFUSALS: list[tuple[str, str, list[str]]] = [
    (
        "type-not-task",
        with_step(1, type="parallel"),
        ["step 2 (Set)", "type 'parallel' is not supported", "only type: task"],
    ),
    ("type-missing", without(2, "type"), ["step 3 (Test)", "type None is not supported"]),
    (
        "type-not-task-unnamed",
        flow_text([task("New", "new"), {"type": "wait", "duration": 5}, task("End", "end")]),
        ["step 2:", "type 'wait' is not supported"],
    ),
    ("name-missing", without(1, "name"), ["step 2:", "name is missing or empty"]),
    ("name-empty", with_step(1, name="  "), ["step 2:", "name is missing or empty"]),
    ("name-not-text", with_step(1, name=["a"]), ["step 2:", "name is missing or empty"]),
    ("name-too-long", with_step(1, name="n" * 129), ["step 2:", "longer than 128"]),
    (
        "duplicate-name",
        with_step(2, name="Set"),
        ["step 3 (Set)", "name is used by an earlier step"],
    ),
    ("resource-missing", without(0, "resourceArn"), ["step 1 (New)", "resourceArn is missing"]),
    ("resource-empty", with_step(3, resourceArn=""), ["step 4 (End)", "resourceArn is missing"]),
    ("resource-not-text", with_step(3, resourceArn=5), ["step 4 (End)", "resourceArn is missing"]),
    (
        "unknown-field",
        with_step(1, retry=[{"errors": ["x"]}]),
        ["step 2 (Set)", "retry not supported"],
    ),
    (
        "mappings-not-list",
        with_mappings(1, {"target": "Step", "source": "set"}),
        ["step 2 (Set)", "inputMappings must be a list"],
    ),
    (
        "mappings-missing",
        without(1, "inputMappings"),
        ["step 2 (Set)", "no Step mapping"],
    ),
    (
        "mapping-not-a-mapping",
        extra_mapping(1, "SecretName"),
        ["step 2 (Set), inputMappings[4]", "must be a mapping with target and source"],
    ),
    (
        "mapping-without-target",
        extra_mapping(1, {"source": "$input.payload.RegionId"}),
        ["step 2 (Set), inputMappings[4]", "target is missing"],
    ),
    (
        "mapping-without-source",
        extra_mapping(2, {"target": "RegionId"}),
        ["step 3 (Test), inputMappings[4]", "source is missing for target 'RegionId'"],
    ),
    (
        "mapping-null-source",
        extra_mapping(2, {"target": "RegionId", "source": None}),
        ["step 3 (Test), inputMappings[4]", "source is missing"],
    ),
    (
        "mapping-list-source",
        extra_mapping(2, {"target": "RegionId", "source": ["a"]}),
        ["step 3 (Test), inputMappings[4]", "must be text, a number or a boolean"],
    ),
    (
        "mapping-unknown-field",
        extra_mapping(2, {"target": "RegionId", "source": "x", "type": "string"}),
        ["step 3 (Test), inputMappings[4]", "type not supported"],
    ),
    (
        "input-without-payload",
        extra_mapping(1, {"target": "RegionId", "source": "$input.RegionId"}),
        ["step 2 (Set), inputMappings[4]", "'$input.RegionId'", "$input.payload.NAME"],
    ),
    (
        "input-nested-path",
        extra_mapping(1, {"target": "RegionId", "source": "$input.payload.a.b"}),
        ["step 2 (Set)", "'$input.payload.a.b' for target 'RegionId' is not supported"],
    ),
    (
        "local-empty-key",
        extra_mapping(1, {"target": "X", "source": "$local."}),
        ["step 2 (Set)", "'$local.'"],
    ),
    (
        "context-source",
        extra_mapping(0, {"target": "X", "source": "$context.step.name"}),
        ["step 1 (New)", "'$context.step.name'"],
    ),
    (
        "step-missing",
        with_mappings(2, [{"target": "SecretName", "source": "$input.payload.SecretName"}]),
        ["step 3 (Test)", "no Step mapping"],
    ),
    (
        "step-invalid-literal",
        with_mappings(2, [{"target": "Step", "source": "rotate"}]),
        ["step 3 (Test)", "Step must be the literal new, set, test or end", "'rotate'"],
    ),
    (
        "step-not-literal",
        with_mappings(2, [{"target": "Step", "source": "$input.payload.Step"}]),
        ["step 3 (Test)", "Step must be the literal", "'$input.payload.Step'"],
    ),
    (
        "step-number",
        with_mappings(2, [{"target": "Step", "source": 1}]),
        ["step 3 (Test)", "Step must be the literal"],
    ),
    (
        "step-case",
        with_mappings(2, [{"target": "Step", "source": "Test"}]),
        ["step 3 (Test)", "Step must be the literal"],
    ),
    (
        "duplicate-target",
        extra_mapping(1, {"target": "SecretName", "source": "other"}),
        ["step 2 (Set)", "target 'SecretName' is mapped more than once"],
    ),
    (
        "end-not-last",
        flow_text([task("New", "new"), task("End", "end"), task("Test", "test")]),
        ["step 2 (End)", "the end task must be the last step"],
    ),
    (
        "new-not-first",
        flow_text([task("Set", "set"), task("New", "new"), task("End", "end")]),
        ["step 1 (Set)", "the first task must be the new step"],
    ),
    (
        "second-new",
        flow_text([task("New", "new"), task("New2", "new"), task("End", "end")]),
        ["step 2 (New2)", "only the first task may be the new step"],
    ),
    (
        "no-end",
        flow_text([task("New", "new"), task("Set", "set"), task("Test", "test")]),
        ["step 3 (Test)", "the flow has no end task"],
    ),
    (
        "step-not-a-mapping",
        flow_text([task("New", "new"), "Set", task("End", "end")]),
        ["step 2:", "must be a mapping"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in STEP_REFUSALS],
    ids=[case_id for case_id, _, _ in STEP_REFUSALS],
)
def test_bad_step_is_refused_by_name(text: str, expected: list[str]) -> None:
    message = refused(text)
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps: [", "not valid YAML"),
        ("version: v1\n  type: flow\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
        ("", "must be a mapping"),
        ("just text\n", "must be a mapping"),
        ("- version: v1\n", "must be a mapping"),
        (flow_text(standard_steps(), version="v2"), "version must be v1, got 'v2'"),
        (flow_text(standard_steps(), version=1), "version must be v1, got 1"),
        ("type: flow\nsteps: []\n", "version must be v1, got None"),
        (flow_text(standard_steps(), type="workflow"), "type must be flow, got 'workflow'"),
        ("version: v1\ntype: flow\n", "no steps"),
        (flow_text([]), "no steps"),
        (flow_text({"New": task("New", "new")}), "no steps"),
        (flow_text(standard_steps(), name="rotate"), "name not supported"),
    ],
)
def test_bad_document_is_refused(text: str, expected: str) -> None:
    assert expected in refused(text)


def test_too_many_steps_are_refused() -> None:
    steps = [task("New", "new")]
    steps += [task(f"Set{i}", "set") for i in range(19)]
    steps += [task("End", "end")]
    assert "21 steps; at most 20" in refused(flow_text(steps))


def test_too_large_definition_is_refused() -> None:
    text = flow_text(standard_steps()) + "#" * (64 * 1024)
    assert "larger than 64 KiB" in refused(text)


def test_yaml_error_names_the_line() -> None:
    text = flow_text(standard_steps()).replace("name: Set", "name: [Set")
    message = refused(text)
    assert "not valid YAML" in message
    assert "line " in message


@pytest.mark.parametrize("text", ["[" * 30000, "{a: " * 10000])
def test_deeply_nested_definition_is_refused(text: str) -> None:
    assert "nested too deeply" in refused(text)
