"""Master-key rotation: make a new key active, then rewrap every data key under it.

No downtime: the old key stays in the keyring (so every row stays readable, by
this process and by running servers, which reload the keyring when they meet an
unknown key id) until the last data key has been rewrapped; only then is it
retired. Values are never decrypted: only their data keys are rewrapped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from rotor import errors
from rotor.store import events
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.envelope import (
    Sealed,
    access_key_context,
    notification_context,
    version_context,
)
from rotor.store.master_key import EnvKeyProvider, generate_key

BATCH = 200


def rotate_master_key(
    store: Store,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Make a new master key active and rewrap all data keys under it; returns how many.

    With the key file, the new key is generated here. With ``ROTOR_MASTER_KEY``
    the operator puts the new key first in the variable (``NEW,OLD``) and this
    rewraps to it; the old key can be dropped from the variable afterwards.
    """
    provider = store.envelope.provider
    if isinstance(provider, EnvKeyProvider):
        if len(store.envelope.reload().keys) < 2:
            raise errors.InvalidParameter(
                "the master key comes from ROTOR_MASTER_KEY: set it to NEW,OLD (new key "
                "first) and run this again to rewrap every data key under NEW"
            )
    else:
        provider.add_active_key(generate_key())
    active = store.envelope.reload().active_id
    with store.read() as conn:
        total = sum(
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.master_key_id != active)
            ).scalar_one()
            for table in (t.versions, t.access_keys, t.notifications)
        )
    done = 0
    if on_progress:
        on_progress(done, total)
    done += _rewrap_versions(store, active, lambda n: _tick(on_progress, n, total))
    done += _rewrap_small(store, active, t.access_keys, access_key_context)
    done += _rewrap_small(store, active, t.notifications, notification_context)
    if on_progress:
        on_progress(done, total)
    provider.retire_inactive_keys()
    store.envelope.reload()
    with store.write() as conn:
        events.record(
            conn,
            store,
            events.MASTER_KEY_ROTATED,
            None,
            {"master_key_id": active, "rewrapped": done},
        )
    return done


def _tick(on_progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if on_progress:
        on_progress(done, total)


def _rewrap_versions(store: Store, active: str, progress: Callable[[int], None]) -> int:
    done = 0
    while True:
        with store.write() as conn:
            rows = conn.execute(
                sa.select(t.versions).where(t.versions.c.master_key_id != active).limit(BATCH)
            ).all()
            for row in rows:
                sealed = store.envelope.rewrap(
                    Sealed(row.master_key_id, row.data_key, row.ciphertext),
                    version_context(row.secret_id, row.version_id),
                )
                conn.execute(
                    t.versions.update()
                    .where(
                        t.versions.c.secret_id == row.secret_id,
                        t.versions.c.version_id == row.version_id,
                    )
                    .values(master_key_id=sealed.master_key_id, data_key=sealed.data_key)
                )
        done += len(rows)
        progress(done)
        if len(rows) < BATCH:
            return done


def _rewrap_small(
    store: Store, active: str, table: sa.Table, context: Callable[[str], bytes]
) -> int:
    """Rewrap a table of few sealed rows keyed by ``id`` (access keys, notifications)."""
    with store.write() as conn:
        rows = conn.execute(sa.select(table).where(table.c.master_key_id != active)).all()
        for row in rows:
            sealed = store.envelope.rewrap(
                Sealed(row.master_key_id, row.data_key, row.ciphertext), context(row.id)
            )
            conn.execute(
                table.update()
                .where(table.c.id == row.id)
                .values(master_key_id=sealed.master_key_id, data_key=sealed.data_key)
            )
    return len(rows)
