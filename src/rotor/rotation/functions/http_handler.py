"""``http-function``: a registered custom rotation function behind an HTTP endpoint.

Its registration (:mod:`rotor.rotation.registrations`) gives:

- ``url`` (required): the endpoint, ``https://...`` or ``http://...``.
- ``headers_secret``: the name of a rotor secret whose Current value is
  ``{"Headers": {"Authorization": "..."}}``, so the endpoint's credentials are kept
  (and rotated) like any other secret. rotor reads it; the function's credentials
  cannot.
- ``timeout_seconds``: default: the rotation's step timeout.

A rotation configuration never sets these: it names the registered function.

Each step is one ``POST`` of the event as a JSON body, with the secret's headers plus
``X-Rotor-Request-Id``, ``X-Rotor-Url`` and short-lived credentials
(``X-Rotor-Access-Key-Id``, ``X-Rotor-Access-Key-Secret``, and
``X-Rotor-Security-Token`` when there is one) so the endpoint can call rotor back.
A 2xx answer with a JSON object is the step's result; an empty one is no result.
Redirects are not followed. Error messages never carry the URL or the headers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from rotor import errors
from rotor.rotation.functions.base import InvocationContext, parse_json_object
from rotor.rotation.functions.python_handler import definition_of, timeout_of

#: Characters of an error answer's body quoted in the error message.
MAX_ERROR_BODY_CHARS = 500
MAX_RESPONSE_BYTES = 1024 * 1024


class HttpFunction:
    """POSTs each step's event to the endpoint its registration names."""

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        definition = definition_of(context)
        timeout = timeout_of(context)
        url = httpx.URL(str(definition["url"]))
        headers = _headers(definition.get("headers_secret"), context)
        try:
            body = json.dumps(event)
        except (TypeError, ValueError):
            raise errors.InvalidParameter("the event is not JSON-serialisable") from None

        credentials = context.mint_credentials()
        for value in (credentials.access_key_secret, credentials.security_token):
            if value:
                context.secrets.redact.remember(value)
        # Set after the secret's own headers, replacing any of the same name.
        headers["Content-Type"] = "application/json"
        headers["X-Rotor-Request-Id"] = context.request_id
        headers["X-Rotor-Url"] = context.api_url
        headers["X-Rotor-Access-Key-Id"] = credentials.access_key_id
        headers["X-Rotor-Access-Key-Secret"] = credentials.access_key_secret
        if credentials.security_token:
            headers["X-Rotor-Security-Token"] = credentials.security_token

        status, content = _post(url, headers, body.encode(), timeout)
        if not 200 <= status < 300:
            text = content.decode("utf-8", "replace")[:MAX_ERROR_BODY_CHARS].strip()
            message = f"the function endpoint answered {status}"
            raise errors.FunctionFailed(
                context.secrets.redact(f"{message}: {text}" if text else message),
                # A refusal (401, 403, 404, 422...) stays one; an error or throttling may pass.
                retryable=status >= 500 or status in (408, 429),
            )
        if not content.strip():
            return None
        try:
            result = json.loads(content)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise errors.FunctionFailed(
                f"the function endpoint answered {status} with a body that is not a JSON object"
            )
        return result


def _headers(name: object, context: InvocationContext) -> httpx.Headers:
    """The headers kept in the registration's headers secret (never quoted in an error)."""
    if not isinstance(name, str):
        return httpx.Headers()
    what = f"headers secret {name!r}"
    config = parse_json_object(context.secrets.get_registration_secret(name).value, what)
    raw_headers = config.get("Headers") or {}
    if not isinstance(raw_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_headers.items()
    ):
        raise errors.InvalidParameter(f"Headers in {what} must be an object of strings")
    for value in raw_headers.values():  # nested, so the redactor did not see them
        context.secrets.redact.remember(value)
    try:
        return httpx.Headers(raw_headers)
    except ValueError:  # e.g. a value that is not ASCII
        raise errors.InvalidParameter(f"Headers in {what} are not valid HTTP headers") from None


def _post(url: httpx.URL, headers: httpx.Headers, body: bytes, timeout: float) -> tuple[int, bytes]:
    """POST and read the answer within about ``timeout`` seconds; (status, body)."""
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("POST", url, headers=headers, content=body) as response,
        ):
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > MAX_RESPONSE_BYTES:
                    raise errors.FunctionFailed(
                        f"the function endpoint's answer is larger than "
                        f"{MAX_RESPONSE_BYTES // 1024 // 1024} MiB"
                    )
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline")
            return response.status_code, bytes(content)
    except httpx.TimeoutException:
        raise errors.FunctionFailed(
            f"the function endpoint did not answer within {timeout:g} s"
        ) from None
    except httpx.TransportError as exc:
        raise errors.FunctionFailed(
            f"cannot reach the function endpoint ({type(exc).__name__})"
        ) from None
    except httpx.HTTPError as exc:
        raise errors.FunctionFailed(
            f"cannot read the function endpoint's answer ({type(exc).__name__})"
        ) from None
