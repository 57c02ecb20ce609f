"""Flow definitions: which function runs each rotation step, and with what event.

A flow is written in the YAML shape of the cloud workflow that rotor is
modelled on::

    version: v1
    type: flow
    steps:
      - type: task
        name: RotateSecretNew
        resourceArn: my-function
        inputMappings:
          - target: SecretName
            source: $input.payload.SecretName
          - target: Step
            source: new
          - target: VersionId
            source: $local.VersionId

Each task's event is built from its ``inputMappings``: ``$input.payload.X``
reads the rotation's payload (the secret name and rotation parameters),
``$local.X`` reads what earlier steps returned (``VersionId``), and anything
else is a literal. Every task names its step with a literal ``Step`` mapping
(``new``, ``set``, ``test`` or ``end``); ``new`` comes first and ``end`` last.

Only ``type: task`` steps are supported. A flow is stored as JSON text in the
same shape (:meth:`Flow.to_json`), so reading it back re-validates it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import re
from typing import TYPE_CHECKING, Any

from rotor import errors

if TYPE_CHECKING:
    import yaml

#: The largest flow definition accepted, in bytes of UTF-8.
MAX_FLOW_BYTES = 64 * 1024
#: The most steps a flow may have.
MAX_STEPS = 20
#: The most input mappings one step may have.
MAX_MAPPINGS = 64
#: The rotation steps, in their natural order.
STEPS = ("new", "set", "test", "end")
#: The mapping target that names a task's step.
STEP_TARGET = "Step"

_MAX_NAME = 128
_KEY = r"[A-Za-z0-9_-]{1,128}"
_INPUT_RE = re.compile(rf"\$input\.payload\.({_KEY})")
_LOCAL_RE = re.compile(rf"\$local\.({_KEY})")
_TOP_KEYS = frozenset({"version", "type", "steps", "description"})
_STEP_KEYS = frozenset({"type", "name", "resourceArn", "inputMappings", "description"})
_MAPPING_KEYS = frozenset({"target", "source"})
# Stored flows also record whether the payload is passed through (the default flow).
_PASSTHROUGH_KEY = "passthroughPayload"

#: A literal source value: YAML scalars other than null and dates.
LiteralValue = str | int | float | bool


class SourceKind(enum.StrEnum):
    """Where a mapping takes its value from."""

    #: ``$input.payload.X``: the rotation's payload (secret name, rotation parameters).
    INPUT = "input"
    #: ``$local.X``: what earlier steps returned, such as ``VersionId``.
    LOCAL = "local"
    #: The source text itself, such as ``new`` for the ``Step`` target.
    LITERAL = "literal"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Mapping:
    """One input mapping: the event field ``target`` gets a payload value, a local or a literal."""

    target: str
    source_kind: SourceKind
    #: The payload or local key, or the literal value.
    key_or_value: LiteralValue

    @property
    def source(self) -> LiteralValue:
        """The source as written in a flow definition."""
        if self.source_kind is SourceKind.INPUT:
            return f"$input.payload.{self.key_or_value}"
        if self.source_kind is SourceKind.LOCAL:
            return f"$local.{self.key_or_value}"
        return self.key_or_value


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """One step of a flow: call the function ``resource`` with the event its mappings build."""

    name: str
    #: The function to call: a rotation function's name, or any ARN-like text.
    resource: str
    mappings: tuple[Mapping, ...]

    @property
    def step(self) -> str:
        """The rotation step this task performs: the literal mapped to ``Step``."""
        for mapping in self.mappings:
            if mapping.target == STEP_TARGET and mapping.source_kind is SourceKind.LITERAL:
                return str(mapping.key_or_value)
        raise errors.InvalidParameter(f"task {self.name!r} has no Step mapping")

    def build_event(
        self,
        payload: collections.abc.Mapping[str, Any],
        local: collections.abc.Mapping[str, Any],
    ) -> dict[str, Any]:
        """The event for this task: each mapping's target gets its value.

        A ``$input`` or ``$local`` source whose key is absent is left out.
        """
        event: dict[str, Any] = {}
        for mapping in self.mappings:
            if mapping.source_kind is SourceKind.LITERAL:
                event[mapping.target] = mapping.key_or_value
                continue
            values = payload if mapping.source_kind is SourceKind.INPUT else local
            key = str(mapping.key_or_value)
            if key in values:
                event[mapping.target] = values[key]
        return event


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Flow:
    """The tasks of a rotation, in order: ``new`` first, ``end`` last."""

    tasks: tuple[Task, ...]
    #: Every event starts from the whole payload (the default flow); otherwise
    #: an event holds exactly its task's mappings.
    passthrough_payload: bool = False

    def build_event(
        self,
        task: Task,
        payload: collections.abc.Mapping[str, Any],
        local: collections.abc.Mapping[str, Any],
    ) -> dict[str, Any]:
        """The event for ``task`` of this flow.

        With ``passthrough_payload`` the event is the payload plus the task's
        mappings, and a mapped target never comes from the payload even when
        its source is absent (a payload cannot smuggle in a ``VersionId``).
        """
        mapped = task.build_event(payload, local)
        if not self.passthrough_payload:
            return mapped
        targets = {mapping.target for mapping in task.mappings}
        event = {key: value for key, value in payload.items() if key not in targets}
        event.update(mapped)
        return event

    def to_document(self) -> dict[str, Any]:
        """The flow in its definition shape (``version``, ``type``, ``steps``)."""
        document: dict[str, Any] = {
            "version": "v1",
            "type": "flow",
            "steps": [
                {
                    "type": "task",
                    "name": task.name,
                    "resourceArn": task.resource,
                    "inputMappings": [
                        {"target": mapping.target, "source": mapping.source}
                        for mapping in task.mappings
                    ],
                }
                for task in self.tasks
            ],
        }
        if self.passthrough_payload:
            document[_PASSTHROUGH_KEY] = True
        return document

    def to_json(self) -> str:
        """The flow as JSON text, for storage; :meth:`from_json` reads it back."""
        return json.dumps(self.to_document(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Flow:
        """A flow stored by :meth:`to_json`, validated again."""
        try:
            document = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidParameter("stored flow definition is not valid JSON") from exc
        return _flow_from_document(document, stored=True)


def parse_flow(text: str) -> Flow:
    """The flow defined by YAML ``text``; a clear error naming the bad step otherwise."""
    if not isinstance(text, str):
        raise errors.InvalidParameter("a flow definition must be YAML text")
    if len(text.encode("utf-8", errors="replace")) > MAX_FLOW_BYTES:
        raise errors.InvalidParameter(
            f"flow definition is larger than {MAX_FLOW_BYTES // 1024} KiB"
        )
    import yaml  # on first use, so that `rotor serve` starts without it

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise errors.InvalidParameter(
            f"flow definition is not valid YAML: {_yaml_problem(exc)}"
        ) from exc
    except RecursionError as exc:  # PyYAML composes nested collections recursively
        raise errors.InvalidParameter("flow definition is nested too deeply") from exc
    return _flow_from_document(document, stored=False)


def default_flow(function: str) -> Flow:
    """new, set, test, end on ``function``, passing the whole payload to each step."""
    if not isinstance(function, str) or not function.strip():
        raise errors.InvalidParameter("a rotation function name is required")
    secret_name = Mapping(
        target="SecretName", source_kind=SourceKind.INPUT, key_or_value="SecretName"
    )
    version_id = Mapping(target="VersionId", source_kind=SourceKind.LOCAL, key_or_value="VersionId")
    tasks = []
    for step in STEPS:
        mappings = [
            secret_name,
            Mapping(target=STEP_TARGET, source_kind=SourceKind.LITERAL, key_or_value=step),
        ]
        if step != "new":
            mappings.append(version_id)
        tasks.append(
            Task(
                name=f"RotateSecret{step.capitalize()}",
                resource=function,
                mappings=tuple(mappings),
            )
        )
    return Flow(tasks=tuple(tasks), passthrough_payload=True)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    import yaml  # imported already by parse_flow

    if isinstance(exc, yaml.MarkedYAMLError):
        where = exc.problem_mark
        problem = exc.problem or exc.context or "syntax error"
        if where is not None:
            return f"{problem} at line {where.line + 1}, column {where.column + 1}"
        return problem
    return "syntax error"


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flow_from_document(document: object, *, stored: bool) -> Flow:
    if not isinstance(document, dict):
        raise errors.InvalidParameter(
            "flow definition must be a mapping with version, type and steps"
        )
    allowed = _TOP_KEYS | {_PASSTHROUGH_KEY} if stored else _TOP_KEYS
    _refuse_unknown(document, allowed, "flow definition")
    if document.get("version") != "v1":
        raise errors.InvalidParameter(
            f"flow definition version must be v1, got {_describe(document.get('version'))}"
        )
    if document.get("type") != "flow":
        raise errors.InvalidParameter(
            f"flow definition type must be flow, got {_describe(document.get('type'))}"
        )
    passthrough = document.get(_PASSTHROUGH_KEY, False)
    if not isinstance(passthrough, bool):
        raise errors.InvalidParameter(f"{_PASSTHROUGH_KEY} must be true or false")
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise errors.InvalidParameter("flow definition has no steps: give a list of tasks")
    if len(steps) > MAX_STEPS:
        raise errors.InvalidParameter(
            f"flow definition has {len(steps)} steps; at most {MAX_STEPS} are allowed"
        )
    tasks: list[Task] = []
    seen: set[str] = set()
    for index, raw in enumerate(steps, start=1):
        task = _parse_task(index, raw)
        where = f"step {index} ({task.name})"
        if task.name in seen:
            raise errors.InvalidParameter(f"{where}: the name is used by an earlier step")
        seen.add(task.name)
        tasks.append(task)
    _check_order(tasks)
    return Flow(tasks=tuple(tasks), passthrough_payload=passthrough)


def _refuse_unknown(fields: dict[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in fields if key not in allowed)
    if unknown:
        raise errors.InvalidParameter(
            f"{where}: {', '.join(unknown)} not supported (supported: {', '.join(sorted(allowed))})"
        )


def _parse_task(index: int, raw: object) -> Task:
    if not isinstance(raw, dict):
        raise errors.InvalidParameter(f"step {index}: must be a mapping with type, name, ...")
    name = raw.get("name")
    named = isinstance(name, str) and bool(name.strip())
    kind = raw.get("type")
    if kind != "task":
        label = f"step {index} ({name})" if named else f"step {index}"
        raise errors.InvalidParameter(
            f"{label}: type {_describe(kind)} is not supported; only type: task steps are"
        )
    if not isinstance(name, str) or not named:
        raise errors.InvalidParameter(f"step {index}: name is missing or empty")
    if len(name) > _MAX_NAME:
        raise errors.InvalidParameter(f"step {index}: name is longer than {_MAX_NAME} characters")
    where = f"step {index} ({name})"
    _refuse_unknown(raw, _STEP_KEYS, where)
    resource = raw.get("resourceArn")
    if not isinstance(resource, str) or not resource.strip():
        raise errors.InvalidParameter(f"{where}: resourceArn is missing or empty")
    raw_mappings = raw.get("inputMappings", [])
    if not isinstance(raw_mappings, list):
        raise errors.InvalidParameter(f"{where}: inputMappings must be a list")
    if len(raw_mappings) > MAX_MAPPINGS:
        raise errors.InvalidParameter(f"{where}: at most {MAX_MAPPINGS} inputMappings are allowed")
    mappings: list[Mapping] = []
    targets: set[str] = set()
    for position, raw_mapping in enumerate(raw_mappings, start=1):
        mapping = _parse_mapping(f"{where}, inputMappings[{position}]", raw_mapping)
        if mapping.target in targets:
            raise errors.InvalidParameter(
                f"{where}: target {mapping.target!r} is mapped more than once"
            )
        targets.add(mapping.target)
        mappings.append(mapping)
    step = next((m for m in mappings if m.target == STEP_TARGET), None)
    if step is None:
        raise errors.InvalidParameter(
            f"{where}: no Step mapping; add target: Step with source new, set, test or end"
        )
    if step.source_kind is not SourceKind.LITERAL or step.key_or_value not in STEPS:
        raise errors.InvalidParameter(
            f"{where}: Step must be the literal new, set, test or end, got {_describe(step.source)}"
        )
    return Task(name=name, resource=resource, mappings=tuple(mappings))


def _parse_mapping(where: str, raw: object) -> Mapping:
    if not isinstance(raw, dict):
        raise errors.InvalidParameter(f"{where}: must be a mapping with target and source")
    _refuse_unknown(raw, _MAPPING_KEYS, where)
    target = raw.get("target")
    if not isinstance(target, str) or not target.strip():
        raise errors.InvalidParameter(f"{where}: target is missing or empty")
    if len(target) > _MAX_NAME:
        raise errors.InvalidParameter(f"{where}: target is longer than {_MAX_NAME} characters")
    source = raw.get("source")
    if source is None:
        raise errors.InvalidParameter(f"{where}: source is missing for target {target!r}")
    if not isinstance(source, LiteralValue):
        raise errors.InvalidParameter(
            f"{where}: source for target {target!r} must be text, a number or a boolean"
        )
    if isinstance(source, str) and source.startswith("$"):
        if match := _INPUT_RE.fullmatch(source):
            return Mapping(target=target, source_kind=SourceKind.INPUT, key_or_value=match[1])
        if match := _LOCAL_RE.fullmatch(source):
            return Mapping(target=target, source_kind=SourceKind.LOCAL, key_or_value=match[1])
        raise errors.InvalidParameter(
            f"{where}: source {_describe(source)} for target {target!r} is not supported; "
            "use $input.payload.NAME, $local.NAME or a literal"
        )
    return Mapping(target=target, source_kind=SourceKind.LITERAL, key_or_value=source)


def _check_order(tasks: list[Task]) -> None:
    first = tasks[0]
    if first.step != "new":
        raise errors.InvalidParameter(
            f"step 1 ({first.name}): the first task must be the new step, not {first.step}"
        )
    for index, task in enumerate(tasks, start=1):
        if index > 1 and task.step == "new":
            raise errors.InvalidParameter(
                f"step {index} ({task.name}): only the first task may be the new step"
            )
        if task.step == "end" and index != len(tasks):
            raise errors.InvalidParameter(
                f"step {index} ({task.name}): the end task must be the last step"
            )
    last = tasks[-1]
    if last.step != "end":
        raise errors.InvalidParameter(
            f"step {len(tasks)} ({last.name}): the flow has no end task; "
            "the last task must be the end step"
        )
