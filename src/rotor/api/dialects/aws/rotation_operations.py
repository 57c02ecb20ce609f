"""The AWS dialect's rotation operations (RotateSecret, CancelRotateSecret) and the
rotation fields DescribeSecret answers with (:func:`describe_rotation`).

They run on the engine calls the KMS dialect's rotation actions use
(:mod:`rotor.api.dialects.aliyun.rotation_actions`): a configuration through
:func:`rotor.rotation.configuration.configure` / :func:`~rotor.rotation.configuration.disable`,
a rotation through :meth:`rotor.rotation.scheduler.Scheduler.rotate`, whose version id
(the ``ClientRequestToken``) is an idempotency key by the engine's rules.

- ``RotationLambdaARN`` names an installed or registered rotor function, by its name or
  as ``arn:aws:lambda:<region>:<account>:function:<name>``; a registered
  ``lambda-handler`` is a rotation handler written for AWS
  (:mod:`rotor.rotation.functions.lambda_handler`).
- ``RotationRules``: ``AutomaticallyAfterDays`` or ``ScheduleExpression``
  (``rate(N days)``, ``rate(N hours)``, or AWS's six-field ``cron(...)``, whose year must
  be ``*``), and ``Duration`` (``3h``), the window a scheduled rotation starts in.
- ``RotateImmediately`` (default true): rotate now; false configures and tests the
  function with a dry run instead, as AWS tests its function.

Actions: RotateSecret needs ``kms:RotateSecret``; configuring (a function, rules, or
enabling a disabled rotation again) also ``kms:UpdateSecretRotationPolicy``, which
CancelRotateSecret needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import AwsError, invalid_parameter, timestamp, versions_to_stages
from rotor.rotation import configuration, in_progress, schedules
from rotor.rotation.functions import lambda_handler
from rotor.store import rotation_configs, rotations, versions
from rotor.store import secrets as secrets_store
from rotor.store.rotation_configs import RotationConfig

ROTATE = "kms:RotateSecret"
CONFIGURE = "kms:UpdateSecretRotationPolicy"
MAX_DAYS = 1000
_LAMBDA_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]*:[0-9]*:function:([A-Za-z0-9_.-]{1,64})(?::[A-Za-z0-9$_-]+)?"
)
_RATE_RE = re.compile(r"rate\(\s*(\d{1,4})\s+(day|days|hour|hours)\s*\)")
_CRON_RE = re.compile(r"cron\((.*)\)")
_DURATION_RE = re.compile(r"(\d{1,2})h")
#: A day-of-week number: one digit, not a step (``/2``) nor an nth weekday (``#3``).
_WEEKDAY_RE = re.compile(r"(?<![#/\d])(\d)(?!\d)")
_RULES = frozenset({"AutomaticallyAfterDays", "ScheduleExpression", "Duration"})


def _started_by(call: Call) -> str:
    return f"principal {call.identity.principal_name}"


def function_name(arn: str) -> str:
    """The rotor function ``RotationLambdaARN`` names: a name, or its name in a Lambda ARN."""
    if not arn.startswith("arn:"):
        return arn
    found = _LAMBDA_ARN_RE.fullmatch(arn)
    if found is None:
        raise invalid_parameter(
            "RotationLambdaARN",
            "expected a rotor function's name or arn:aws:lambda:<region>:<account>:function:<name>",
        )
    return found.group(1)


def cron_from_aws(expression: str) -> str:
    """AWS's ``minutes hours day-of-month month day-of-week year`` (``?`` for either day,
    weekdays 1-7 from Sunday, the year ``*``) as rotor's five fields."""
    fields = expression.split()
    if len(fields) != 6:
        raise invalid_parameter(
            "ScheduleExpression",
            "a cron() expression has six fields: minutes hours day-of-month month day-of-week year",
        )
    minutes, hours, day, month, weekday, year = fields
    if year not in ("*", "?"):
        raise invalid_parameter("ScheduleExpression", "rotor schedules take * as the year")
    weekday = _WEEKDAY_RE.sub(lambda m: str(int(m[1]) - 1) if m[1] in "1234567" else m[1], weekday)
    return " ".join(f.replace("?", "*") for f in (minutes, hours, day, month, weekday))


def cron_to_aws(cron: str) -> str | None:
    """rotor's five-field cron as AWS writes it (weekdays 0-6 from Sunday, and 7 for
    Sunday again, as 1-7); None for one AWS cannot write (an alias, seconds, or a range
    ending on Sunday as 7)."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    minutes, hours, day, month, weekday = fields
    if re.search(r"-7(?!\d)", weekday):
        return None
    weekday = _WEEKDAY_RE.sub(lambda m: str(int(m[1]) % 7 + 1), weekday)
    if weekday == "*":
        weekday = "?"
    elif day == "*":
        day = "?"
    return f"cron({minutes} {hours} {day} {month} {weekday} *)"


def _rules(call: Call) -> configuration.RotationRequest | None:
    """``RotationRules`` as a configuration's schedule; None when not given."""
    raw = call.body.values.get("RotationRules")
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - _RULES:
        raise invalid_parameter(
            "RotationRules", f"expected an object of {', '.join(sorted(_RULES))}"
        )
    days, expression = raw.get("AutomaticallyAfterDays"), raw.get("ScheduleExpression")
    duration = raw.get("Duration")
    if (days is None) == (expression is None):
        raise invalid_parameter(
            "RotationRules", "give one of AutomaticallyAfterDays and ScheduleExpression"
        )
    every = cron = window = None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise invalid_parameter(
                "AutomaticallyAfterDays", f"expected a whole number from 1 to {MAX_DAYS}"
            )
        every = f"{days}d"
    elif not isinstance(expression, str):
        raise invalid_parameter("ScheduleExpression", "expected rate(...) or cron(...)")
    elif rate := _RATE_RE.fullmatch(expression.strip()):
        every = f"{int(rate.group(1))}{rate.group(2)[0]}"
    elif aws_cron := _CRON_RE.fullmatch(expression.strip()):
        cron = cron_from_aws(aws_cron.group(1))
    else:
        raise invalid_parameter(
            "ScheduleExpression", "expected rate(N days), rate(N hours) or cron(...)"
        )
    if duration is not None:
        hours = _DURATION_RE.fullmatch(duration) if isinstance(duration, str) else None
        if hours is None or not 1 <= int(hours.group(1)) <= 24:
            raise invalid_parameter("Duration", "expected hours from 1h to 24h, e.g. 3h")
        window = duration
    return configuration.RotationRequest(every=every, cron=cron, window=window)


def rotate_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    token = call.body.text("ClientRequestToken")
    if token is not None:
        versions.validate_version_id(token)
    arn = call.body.text("RotationLambdaARN")
    function = function_name(arn) if arn else None
    rules = _rules(call)
    immediately = call.body.flag("RotateImmediately", default=True)
    call.authorize(ROTATE, name)  # before the store is asked: a refusal tells nothing of it
    existing = rotation_configs.get_config(call.store, name)  # an unknown secret: not found
    configuring = function is not None or rules is not None or not existing or not existing.enabled
    if configuring:
        call.authorize(CONFIGURE, name)
        call.audit["action"] = ROTATE  # allowed both: audited as the call it is
    if existing is None and function is None:
        raise AwsError(
            "InvalidRequestException",
            f"Secret {name!r} has no rotation function: give RotationLambdaARN.",
        )
    if configuring:
        schedule = rules or configuration.RotationRequest()
        configuration.configure(
            call.scheduler.engine,
            name,
            configuration.RotationRequest(
                enabled=True,
                function=function,
                every=schedule.every,
                cron=schedule.cron,
                window=schedule.window,
                rotate_now=False,
                dry_run=not immediately,
            ),
            identity=call.identity,
            started_by=_started_by(call),
        )
    answer: dict[str, Any] = {"ARN": call.arn_of(name), "Name": name}
    if immediately:
        rotation, _ = call.scheduler.rotate(name, started_by=_started_by(call), version_id=token)
        call.audit["version_id"] = answer["VersionId"] = rotation.version_id
    return answer


def cancel_rotate_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize(CONFIGURE, name)
    if rotation_configs.get_config(call.store, name) is None:  # an unknown secret: not found
        raise AwsError("InvalidRequestException", f"Secret {name!r} has no rotation configured.")
    configuration.disable(call.scheduler.engine, name)
    answer: dict[str, Any] = {"ARN": call.arn_of(name), "Name": name}
    if rotations.running_rotation(call.store, name) is not None:
        cancelled = call.scheduler.engine.cancel(name)
        call.audit["version_id"] = answer["VersionId"] = cancelled.version_id
    return answer


def _rules_out(config: RotationConfig) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    every = config.interval_seconds
    if every is not None and every % schedules.DAY == 0:
        rules["AutomaticallyAfterDays"] = every // schedules.DAY
        rules["ScheduleExpression"] = f"rate({every // schedules.DAY} days)"
    elif every is not None and every % schedules.HOUR == 0:
        rules["ScheduleExpression"] = f"rate({every // schedules.HOUR} hours)"
    elif config.cron is not None and (expression := cron_to_aws(config.cron)):
        rules["ScheduleExpression"] = expression
    window = config.window_seconds
    if window is not None and window % schedules.HOUR == 0:
        rules["Duration"] = f"{window // schedules.HOUR}h"
    return rules


def describe_rotation(call: Call, secret: secrets_store.Secret) -> dict[str, Any]:
    """DescribeSecret's ``VersionIdsToStages`` and rotation fields. While a rotation runs
    whose version has no value yet, ``VersionIdsToStages`` lists it with AWSPENDING and
    ``RotationEnabled`` is true (:mod:`rotor.rotation.in_progress`), as AWS shows a
    rotation in progress."""
    config = rotation_configs.get_config(call.store, secret.name)
    running = rotations.running_rotation(call.store, secret.name)
    answer: dict[str, Any] = {
        "VersionIdsToStages": versions_to_stages(
            secret.stages, in_progress.pending_version(call.store, secret.name, running)
        ),
        "RotationEnabled": running is not None or bool(config and config.enabled),
    }
    if config is None:
        return answer
    answer["RotationLambdaARN"] = lambda_handler.function_arn(
        config.function, region=call.settings.region, account=call.settings.account_id
    )
    answer["RotationRules"] = _rules_out(config)
    if config.last_rotated_at is not None:
        answer["LastRotatedDate"] = timestamp(config.last_rotated_at)
    if config.enabled and config.next_rotation_at is not None:
        answer["NextRotationDate"] = timestamp(config.next_rotation_at)
    return answer


#: The rotation operations and the fields each takes (merged into
#: :data:`rotor.api.dialects.aws.operations.OPERATIONS`).
OPERATIONS: dict[str, tuple[Callable[[Call], dict[str, Any]], frozenset[str]]] = {
    "RotateSecret": (
        rotate_secret,
        frozenset(
            {
                "SecretId",
                "ClientRequestToken",
                "RotationLambdaARN",
                "RotationRules",
                "RotateImmediately",
            }
        ),
    ),
    "CancelRotateSecret": (cancel_rotate_secret, frozenset({"SecretId"})),
}
