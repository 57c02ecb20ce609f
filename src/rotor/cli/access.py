"""``rotor principal|access-key|policy ...``, ``rotor whoami`` and ``rotor assume-role``.

Thin clients of the native API, like :mod:`rotor.cli.secrets`. A new access
key's secret and an assumed role's credentials are printed once, on stdout (a
warning on stderr says so); they are never taken from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from rotor import errors
from rotor.cli import render, render_access, timespec
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption

principal_app = typer.Typer(
    help="Create, list, show and delete users and roles.", no_args_is_help=True
)
key_app = typer.Typer(
    help="Create, list, disable, enable and delete access keys.", no_args_is_help=True
)
policy_app = typer.Typer(
    help="Create, show, attach, detach and delete policies.", no_args_is_help=True
)

PrincipalArgument = Annotated[
    str,
    typer.Argument(
        help="Principal (user or role) name: 1-128 characters of A-Za-z0-9_.@+=-",
        show_default=False,
    ),
]
KeyIdArgument = Annotated[str, typer.Argument(help="Access key id.", show_default=False)]
PolicyArgument = Annotated[
    str,
    typer.Argument(help="Policy name: 1-128 characters of A-Za-z0-9_.@+=-", show_default=False),
]


def _warn(message: str) -> None:
    typer.echo(message, err=True)


def read_policy_file(path: Path, option: str) -> str:
    """A policy document's text from ``path`` ('-' for stdin), exactly as written."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameter(f"{option} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise errors.InvalidParameter(f"cannot read {path}: {exc.strerror}") from None


# -- principals --------------------------------------------------------------------------------


@principal_app.command("create")
@connected
def principal_create(
    connection: Connection,
    name: PrincipalArgument,
    role: Annotated[
        bool,
        typer.Option("--role", help="Create a role (which can be assumed), not a user."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user (or, with --role, a role). It can do nothing until a policy is attached."""
    with connection.client() as client:
        principal = client.create_principal(name, kind="role" if role else "user")
    if as_json:
        render.echo_json(render_access.principal_json(principal))
    else:
        render.console().print(Text(f"Created {principal.kind} {principal.name}."))


@principal_app.command("list")
@connected
def principal_list(
    connection: Connection,
    as_json: JsonOption = False,
) -> None:
    """List the users and roles you may see."""
    with connection.client() as client:
        items = client.list_principals()
    if as_json:
        render.echo_json([render_access.principal_json(p) for p in items])
    else:
        render.console().print(render_access.principals_table(items))


@principal_app.command("show")
@connected
def principal_show(
    connection: Connection,
    name: PrincipalArgument,
    as_json: JsonOption = False,
) -> None:
    """Show a principal, its attached policies and its access keys (never their secrets)."""
    with connection.client() as client:
        principal = client.get_principal(name)
    if as_json:
        render.echo_json(render_access.principal_json(principal))
    else:
        render.console().print(render_access.principal_view(principal))


@principal_app.command("delete")
@connected
def principal_delete(
    connection: Connection,
    name: PrincipalArgument,
) -> None:
    """Delete a principal and all its access keys; they stop working at once."""
    with connection.client() as client:
        principal = client.delete_principal(name)
    render.console().print(Text(f"Deleted {principal.kind} {principal.name} and its keys."))


# -- access keys -------------------------------------------------------------------------------


@key_app.command("create")
@connected
def key_create(
    connection: Connection,
    principal: PrincipalArgument,
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            help="The key stops working after this long: 90d, 12h, 30m, ... (default: never).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an access key for a principal and print its secret: the only time it is shown."""
    seconds = None if expires_in is None else timespec.parse_duration(expires_in, "--expires-in")
    with connection.client() as client:
        key = client.create_access_key(principal, expires_in_seconds=seconds)
    _warn("The access key secret is shown only this once: store it now.")
    if as_json:
        render.echo_json(render_access.new_key_json(key))
        return
    console = render.console()
    console.print(Text(f"Created access key for {key.principal}."))
    console.print(Text(f"ROTOR_ACCESS_KEY_ID={key.access_key_id}"))
    console.print(Text(f"ROTOR_ACCESS_KEY_SECRET={key.access_key_secret}"))
    if key.expires_at is not None:
        console.print(Text(f"Expires {render.when(key.expires_at)}."))


@key_app.command("list")
@connected
def key_list(
    connection: Connection,
    principal: PrincipalArgument,
    as_json: JsonOption = False,
) -> None:
    """List a principal's access keys (never their secrets)."""
    with connection.client() as client:
        items = client.list_access_keys(principal)
    if as_json:
        render.echo_json([render_access.key_json(k) for k in items])
    else:
        render.console().print(render_access.keys_table(items))


@key_app.command("disable")
@connected
def key_disable(
    connection: Connection,
    key_id: KeyIdArgument,
) -> None:
    """Disable an access key: it is refused from the next request on."""
    with connection.client() as client:
        key = client.disable_access_key(key_id)
    render.console().print(Text(f"Disabled access key {key.access_key_id} of {key.principal}."))


@key_app.command("enable")
@connected
def key_enable(
    connection: Connection,
    key_id: KeyIdArgument,
) -> None:
    """Enable a disabled access key again."""
    with connection.client() as client:
        key = client.enable_access_key(key_id)
    render.console().print(Text(f"Enabled access key {key.access_key_id} of {key.principal}."))


@key_app.command("delete")
@connected
def key_delete(
    connection: Connection,
    key_id: KeyIdArgument,
) -> None:
    """Delete an access key: it is refused from the next request on."""
    with connection.client() as client:
        key = client.delete_access_key(key_id)
    render.console().print(Text(f"Deleted access key {key.access_key_id} of {key.principal}."))


# -- policies ----------------------------------------------------------------------------------


@policy_app.command("create")
@connected
def policy_create(
    connection: Connection,
    name: PolicyArgument,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help='The policy document, JSON: {"Version": "1", "Statement": [{"Effect": '
            '"Allow", "Action": [...], "Resource": [...]}]} (\'-\' for stdin). Kept exactly '
            "as written.",
            show_default=False,
        ),
    ],
    description: Annotated[
        str, typer.Option("--description", help="What the policy is for.", show_default=False)
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a policy, or replace the document of an existing one.

    An invalid document is refused with a message naming the problem. Actions that no
    rotor operation has (kms:Decrypt, rds:CreateAccount, ...) are kept and grant nothing.
    """
    document = read_policy_file(file, "--file")
    with connection.client() as client:
        policy = client.put_policy(name, document, description=description)
    if as_json:
        render.echo_json(render_access.policy_json(policy))
        return
    console = render.console()
    console.print(Text(f"{'Created' if policy.created else 'Replaced'} policy {policy.name}."))
    if policy.unmatched_actions:
        console.print(render_access.unmatched_line(policy))


@policy_app.command("attach")
@connected
def policy_attach(
    connection: Connection,
    name: PolicyArgument,
    to: Annotated[
        str, typer.Option("--to", help="The principal to attach it to.", show_default=False)
    ],
) -> None:
    """Attach a policy to a principal; it applies from the next request on."""
    with connection.client() as client:
        attached = client.attach_policy(name, to)
    render.console().print(
        Text(f"Attached {name} to {attached.principal} (policies: {', '.join(attached.policies)}).")
    )


@policy_app.command("detach")
@connected
def policy_detach(
    connection: Connection,
    name: PolicyArgument,
    from_: Annotated[
        str, typer.Option("--from", help="The principal to detach it from.", show_default=False)
    ],
) -> None:
    """Detach a policy from a principal; it stops applying from the next request on."""
    with connection.client() as client:
        attached = client.detach_policy(name, from_)
    left = ", ".join(attached.policies) or "none"
    render.console().print(
        Text(f"Detached {name} from {attached.principal} (policies left: {left}).")
    )


@policy_app.command("show")
@connected
def policy_show(
    connection: Connection,
    name: PolicyArgument,
    as_json: JsonOption = False,
) -> None:
    """Show a policy's document, where it is attached, and which actions grant nothing."""
    with connection.client() as client:
        policy = client.get_policy(name)
    if as_json:
        render.echo_json(render_access.policy_json(policy))
    else:
        render.console().print(render_access.policy_view(policy))


@policy_app.command("list")
@connected
def policy_list(
    connection: Connection,
    as_json: JsonOption = False,
) -> None:
    """List the policies you may read."""
    with connection.client() as client:
        items = client.list_policies()
    if as_json:
        render.echo_json([render_access.policy_info_json(p) for p in items])
    else:
        render.console().print(render_access.policies_table(items))


@policy_app.command("delete")
@connected
def policy_delete(
    connection: Connection,
    name: PolicyArgument,
) -> None:
    """Delete a policy; refused while it is attached to a principal."""
    with connection.client() as client:
        policy = client.delete_policy(name)
    render.console().print(Text(f"Deleted policy {policy.name}."))


# -- identity ----------------------------------------------------------------------------------


@connected
def whoami(
    connection: Connection,
    as_json: JsonOption = False,
) -> None:
    """Show who your access key belongs to, and the policies attached to that principal."""
    with connection.client() as client:
        identity = client.get_caller_identity()
    if as_json:
        render.echo_json(render_access.identity_json(identity))
    else:
        render.console().print(render_access.identity_view(identity))


@connected
def assume_role(
    connection: Connection,
    role: Annotated[str, typer.Argument(help="The role to assume.", show_default=False)],
    duration: Annotated[
        str,
        typer.Option("--duration", help="How long the credentials work: 15m to 12h."),
    ] = "1h",
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy-file",
            help="A policy (JSON) that narrows what the role's policies allow for this session.",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        bool,
        typer.Option(
            "--env",
            help='Print export lines for a POSIX shell: eval "$(rotor assume-role ROLE --env)".',
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Get short-lived credentials of a role: an access key id, secret and session token.

    All three are needed (ROTOR_ACCESS_KEY_ID, ROTOR_ACCESS_KEY_SECRET,
    ROTOR_SECURITY_TOKEN); they stop working when they expire.
    """
    if env and as_json:
        raise errors.InvalidParameter("give --env or --json, not both")
    seconds = timespec.parse_duration(duration, "--duration")
    policy = None if policy_file is None else read_policy_file(policy_file, "--policy-file")
    with connection.client() as client:
        credentials = client.assume_role(role, duration_seconds=seconds, policy=policy)
    if env:
        typer.echo(render_access.session_exports(credentials))
    elif as_json:
        render.echo_json(render_access.session_json(credentials))
    else:
        console = render.console()
        console.print(
            Text(
                f"Credentials of role {credentials.role}, until {render.when(credentials.expires_at)}:"
            )
        )
        console.print(Text(render_access.session_exports(credentials)))
