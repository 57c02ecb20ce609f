"""``lambda-handler``: a registered ``lambda_handler(event, context)`` written for AWS Lambda.

A rotation handler written for AWS Secrets Manager runs unchanged: it is run exactly as
a ``python-handler`` is (:mod:`rotor.rotation.functions.python_handler`: its own
process, the registration's interpreter, ``python_path`` and timeout, short-lived
credentials, output to the rotation history), in Lambda's calling convention:

- the event is a dict ``{"SecretId": <the secret's ARN>, "ClientRequestToken": <the rotation's version
  id>, "Step": "createSecret" | "setSecret" | "testSecret" | "finishSecret"}`` (the
  steps new, set, test and end); the rotation's parameters are not in it, as Lambda's
  are not;
- the context has ``aws_request_id``, ``function_name`` (the registered name),
  ``function_version``, ``invoked_function_arn``, ``memory_limit_in_mb``,
  ``log_group_name``, ``log_stream_name`` and ``get_remaining_time_in_millis()``;
- the environment points the AWS SDKs at rotor's AWS-compatible API with the function's
  credentials: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
  ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (rotor's region), and rotor's URL in
  ``SECRETS_MANAGER_ENDPOINT``, ``AWS_ENDPOINT_URL_SECRETSMANAGER`` and
  ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` (the one botocore reads), so
  ``boto3.client("secretsmanager")`` with no arguments talks to rotor.

As in AWS, DescribeSecret lists the rotation's ``ClientRequestToken`` with
``AWSPENDING`` before the handler's createSecret wrote it
(:func:`rotor.rotation.in_progress.pending_version`), and AWSPENDING is removed from the
version once finishSecret made it AWSCURRENT. A handler that does not move AWSCURRENT
leaves the rotation failed, never reported done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rotor.rotation.functions.base import (
    Credentials,
    InvocationContext,
    step_of,
    version_of,
)
from rotor.rotation.functions.python_handler import (
    HandlerOptions,
    PythonHandler,
    credential_variables,
)

#: rotor's steps and the names Lambda's rotation handlers know them by.
STEPS = {
    "new": "createSecret",
    "set": "setSecret",
    "test": "testSecret",
    "end": "finishSecret",
}


def function_arn(name: str, *, region: str, account: str) -> str:
    """The ARN a rotor function is known by in the AWS dialect (``RotationLambdaARN``)."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


class LambdaHandler(PythonHandler):
    """Runs a Lambda-style rotation handler; see the module docstring."""

    convention = "lambda"

    def handler_event(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any]:
        return {
            "SecretId": context.secrets.aws_arn(region=context.region, account=context.account_id),
            "ClientRequestToken": version_of(event, context),
            "Step": STEPS[step_of(event)],
        }

    def runner_fields(
        self, event: Mapping[str, Any], context: InvocationContext, options: HandlerOptions
    ) -> dict[str, Any]:
        name = context.function.name if context.function else options.handler
        arn = function_arn(name, region=context.region, account=context.account_id)
        return {"function_name": name, "function_arn": arn}

    def environment(self, context: InvocationContext, credentials: Credentials) -> dict[str, str]:
        return {
            **super().environment(context, credentials),
            **credential_variables(
                credentials,
                key_id="AWS_ACCESS_KEY_ID",
                secret="AWS_SECRET_ACCESS_KEY",
                token="AWS_SESSION_TOKEN",
            ),
            "AWS_REGION": context.region,
            "AWS_DEFAULT_REGION": context.region,
            "SECRETS_MANAGER_ENDPOINT": context.api_url,
            "AWS_ENDPOINT_URL_SECRETSMANAGER": context.api_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": context.api_url,
        }

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        super().invoke(event, context)  # a Lambda handler's result carries nothing
        if step_of(event) == "end":
            context.secrets.drop_pending(context.secrets.secret_name, version_of(event, context))
        return None
