"""The store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` build the same schema."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

secrets = sa.Table(
    "secrets",
    metadata,
    # A random id, not the name: ciphertexts are bound to it, so a secret deleted and
    # created again under the same name cannot read the old one's rows.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(192), nullable=False, unique=True),
    sa.Column("secret_type", sa.String(64), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("delete_after", UTCDateTime(), nullable=True),
    # A JSON object of settings other dialects keep with a secret (KMS ExtendedConfig).
    sa.Column("extended_config", sa.Text(), nullable=True),
    # The six random characters the AWS dialect's ARN of the secret ends with.
    sa.Column("arn_suffix", sa.String(6), nullable=False),
)

secret_tags = sa.Table(
    "secret_tags",
    metadata,
    sa.Column(
        "secret_id",
        sa.String(32),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column(
        "secret_id",
        sa.String(32),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # "text" or "binary"
    sa.Column("value_type", sa.String(8), nullable=False),
    # The key id of the master key that wrapped data_key; master-key rotation rewraps by it.
    sa.Column("master_key_id", sa.String(32), nullable=False, index=True),
    sa.Column("data_key", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    # A secret's versions newest first, as a write's prune of unstaged versions reads them.
    sa.Index("ix_versions_secret_created", "secret_id", "created_at", "version_id"),
)

stages = sa.Table(
    "stages",
    metadata,
    sa.Column(
        "secret_id",
        sa.String(32),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # One row per (secret, stage): a stage points at exactly one version.
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.ForeignKeyConstraint(
        ["secret_id", "version_id"],
        ["versions.secret_id", "versions.version_id"],
        ondelete="CASCADE",
        name="fk_stages_version",
    ),
)

principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    # "user" or "role"
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "principal_id",
        sa.String(32),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # "active" or "disabled"
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    # The key secret, envelope-encrypted like a secret value (signature schemes need it back).
    sa.Column("master_key_id", sa.String(32), nullable=False, index=True),
    sa.Column("data_key", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    # Short-lived (assumed-role) keys: SHA-256 of the session token, and the JSON policy
    # that narrows what the role's policies allow.
    sa.Column("session_token_hash", sa.String(64), nullable=True),
    sa.Column("session_policy", sa.Text(), nullable=True),
    # A rotation function's key: the function, the rotation it serves, and the principal
    # who configured that rotation (so its audit events say on whose behalf it acted).
    sa.Column("function", sa.String(64), nullable=True),
    sa.Column("rotation_id", sa.String(32), nullable=True),
    sa.Column("on_behalf_of", sa.String(128), nullable=True),
)

rotation_configs = sa.Table(
    "rotation_configs",
    metadata,
    sa.Column(
        "secret_id",
        sa.String(32),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("function", sa.String(256), nullable=False),
    # JSON object of free-form parameters (RegionId, InstanceId, MasterSecret, ...).
    sa.Column("parameters", sa.Text(), nullable=False),
    sa.Column("interval_seconds", sa.Integer(), nullable=True),
    sa.Column("cron", sa.String(128), nullable=True),
    sa.Column("window_seconds", sa.Integer(), nullable=True),
    # JSON of a parsed flow definition; NULL means the default new/set/test/end flow.
    sa.Column("flow", sa.Text(), nullable=True),
    sa.Column("enabled_at", UTCDateTime(), nullable=False),
    sa.Column("next_rotation_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("last_rotated_at", UTCDateTime(), nullable=True),
    # The principal (id) who configured it: what it delegates is checked against this
    # principal's rights again before every rotation. NULL: nobody; nothing is delegated.
    sa.Column("configured_by", sa.String(32), nullable=True),
    # JSON array: the other secrets the configurer delegated. A rotation whose secret's
    # value names one more fails (someone else wrote it). NULL: recorded at the next run.
    sa.Column("delegated_secrets", sa.Text(), nullable=True),
    # The due time a rotation.overdue event was recorded for: one event per due time.
    sa.Column("overdue_noted_for", UTCDateTime(), nullable=True),
)

functions = sa.Table(
    "functions",
    metadata,
    # Custom code an administrator registered; a rotation configuration names it.
    sa.Column("name", sa.String(64), primary_key=True),
    # python-handler or http-function
    sa.Column("kind", sa.String(32), nullable=False),
    # JSON object: handler/python/python_path, or url/headers_secret; timeout_seconds, flow.
    sa.Column("definition", sa.Text(), nullable=False),
    # JSON arrays: the roles, and the secrets (name patterns), a configuration may give it.
    sa.Column("roles", sa.Text(), nullable=False),
    sa.Column("secrets", sa.Text(), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False, server_default=""),
    sa.Column("registered_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

rotations = sa.Table(
    "rotations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "secret_id",
        sa.String(32),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(256), nullable=False),
    sa.Column("parameters", sa.Text(), nullable=False),
    sa.Column("flow", sa.Text(), nullable=False),
    # Index of the task of the flow to run next.
    sa.Column("step_index", sa.Integer(), nullable=False),
    # running / succeeded / failed / cancelled / abandoned
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    # JSON object: the outputs of finished tasks ($local in a flow).
    sa.Column("local", sa.Text(), nullable=False),
    # The version that was Current when the rotation started (None for an empty secret).
    sa.Column("base_version_id", sa.String(64), nullable=True),
    sa.Column("started_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    # The node that started it, then the one whose runner holds (or last held) its lease.
    sa.Column("node", sa.String(64), nullable=True),
    # At most one running rotation per secret, whatever process asks.
    sa.Index(
        "uq_rotations_running",
        "secret_id",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)

rotation_steps = sa.Table(
    "rotation_steps",
    metadata,
    sa.Column(
        "rotation_id",
        sa.String(32),
        sa.ForeignKey("rotations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("step_index", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
)

rotation_events = sa.Table(
    "rotation_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "rotation_id",
        sa.String(32),
        sa.ForeignKey("rotations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    # started, step_succeeded, step_failed, succeeded, failed, abandoned, cancelled, log
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("step", sa.String(128), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    # The node that recorded it (NULL: before nodes were named).
    sa.Column("node", sa.String(64), nullable=True),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.String(1024), nullable=False, server_default=""),
    # The JSON document as given (validated).
    sa.Column("document", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

principal_policies = sa.Table(
    "principal_policies",
    metadata,
    sa.Column(
        "principal_id",
        sa.String(32),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "policy_id",
        sa.String(32),
        sa.ForeignKey("policies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

request_nonces = sa.Table(
    "request_nonces",
    metadata,
    # A signed request's (key, nonce) is accepted once; rows outlive the clock-skew window.
    sa.Column("access_key_id", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(128), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("principal", sa.String(128), nullable=True, index=True),
    sa.Column("access_key_id", sa.String(64), nullable=True),
    sa.Column("source", sa.String(128), nullable=True),
    sa.Column("action", sa.String(128), nullable=False, index=True),
    sa.Column("secret_name", sa.String(192), nullable=True, index=True),
    sa.Column("version_id", sa.String(64), nullable=True),
    # allowed / denied / unauthenticated / failed / succeeded
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("rotation_id", sa.String(32), nullable=True),
    # A rotation function's request: the function, and who configured the rotation.
    sa.Column("function", sa.String(64), nullable=True),
    sa.Column("on_behalf_of", sa.String(128), nullable=True),
    # The node that served the request or ran the step (NULL: before nodes were named).
    sa.Column("node", sa.String(64), nullable=True),
)

nodes = sa.Table(
    "nodes",
    metadata,
    # One row per server process: a node id plus a random part, as its rotation leases say.
    sa.Column("instance", sa.String(96), primary_key=True),
    sa.Column("node", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("url", sa.String(256), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("stopped_at", UTCDateTime(), nullable=True),
)

access_generation = sa.Table(
    "access_generation",
    metadata,
    # One row, counted up by every change to keys, principals and policies, so a node
    # knows on its next request that what it cached about them may be stale.
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("generation", sa.BigInteger(), nullable=False),
)

#: An event log's cursor: BIGINT on PostgreSQL, SQLite's INTEGER PRIMARY KEY (its rowid).
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.Table(
    "events",
    metadata,
    # What happened to a secret or a rotation, in commit order (rotor.store.events): the
    # events API reads it after a cursor; each notification delivery names one.
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    # "evt_" + 32 hex: the webhook-id of every delivery of it.
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(48), nullable=False),
    sa.Column("secret_name", sa.String(256), nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("node", sa.String(64), nullable=False),
    # JSON object: ids, stages, a step and an error code; never a value or a message.
    sa.Column("data", sa.Text(), nullable=False),
    sqlite_autoincrement=True,
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False),
    # JSON array of event types (or ["*"]).
    sa.Column("events", sa.Text(), nullable=False),
    # Only events of secrets whose names start with it ("" for every secret, and the
    # events of no secret, such as master_key.rotated).
    sa.Column("prefix", sa.String(256), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False),
    # The signing secret (Standard Webhooks), envelope-encrypted like a secret value.
    sa.Column("master_key_id", sa.String(32), nullable=False, index=True),
    sa.Column("data_key", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    # The outbox: one row per (subscription, event), written in the event's transaction.
    sa.Column("id", SEQ, primary_key=True, autoincrement=True),
    sa.Column(
        "subscription_id",
        sa.String(40),
        sa.ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "event_seq",
        SEQ,
        sa.ForeignKey("events.seq", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # pending / delivered / failed (after its last attempt; retried only by hand)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.String(512), nullable=True),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    # The sender holding it while it posts (a process of any node), like a rotation lease.
    sa.Column("lease_owner", sa.String(96), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("subscription_id", "event_seq"),
    sa.Index("ix_deliveries_state_next", "state", "next_attempt_at"),
    sqlite_autoincrement=True,
)
