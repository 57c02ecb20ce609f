"""The engine against a real store (SQLite and PostgreSQL), with the built-in function."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from pathlib import Path

import pytest

from rotor import errors
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.settings import Settings
from rotor.store import rotation_configs, rotation_steps, rotations, secrets, stages, versions
from rotor.store.database import Store
from rotor.store.rotations import Status
from tests.conftest import admin_identity

ACCOUNT = {"AccountName": "app", "AccountPassword": "initial-password", "Endpoint": "db:3306"}


@pytest.fixture
def engine(store: Store) -> Engine:
    fast = dataclasses.replace(store.settings, rotation_retry_seconds=0.01, rotation_attempts=3)
    return Engine(store, fast, owner="test-runner")


def _configure(engine: Engine, name: str, **parameters: object) -> None:
    configuration.configure(
        engine,
        name,
        configuration.RotationRequest(
            function="generated-password", parameters=dict(parameters), rotate_now=False
        ),
        identity=admin_identity(engine.store),
    )


@pytest.fixture
def account(store: Store, engine: Engine) -> str:
    secrets.create_secret(store, name="db/app", value=json.dumps(ACCOUNT), version_id="v0")
    _configure(engine, "db/app", PasswordLength=24, ExcludeCharacters="/@\"'\\")
    return "db/app"


def test_full_rotation_replaces_only_the_password(engine: Engine, account: str) -> None:
    rotation, created = engine.start(account, started_by="test")
    assert created
    done = engine.run(rotation.id)
    assert done.status is Status.SUCCEEDED
    assert [s.step for s in done.steps] == ["new", "set", "test", "end"]
    assert all(s.finished_at is not None and s.attempts == 1 for s in done.steps)
    new = json.loads(str(versions.get_value(engine.store, account).value))
    assert new["AccountName"] == "app"
    assert new["Endpoint"] == "db:3306"
    assert len(new["AccountPassword"]) == 24
    assert not set(new["AccountPassword"]) & set("/@\"'\\")
    assert new["AccountPassword"] != ACCOUNT["AccountPassword"]
    on = secrets.get_secret(engine.store, account).stages
    assert on == {"Current": rotation.version_id, "Previous": "v0"}
    kinds = [e.kind for e in rotations.list_events(engine.store, rotation.id)]
    assert kinds == ["started"] + ["step_succeeded"] * 4 + ["succeeded"]
    config = rotation_configs.get_config(engine.store, account)
    assert config is not None
    assert config.last_rotated_at == done.finished_at


def test_plain_value_is_replaced_whole(store: Store, engine: Engine) -> None:
    secrets.create_secret(store, name="plain", value="not json")
    _configure(engine, "plain")
    rotation, _ = engine.start("plain", started_by="test")
    assert engine.run(rotation.id).status is Status.SUCCEEDED
    value = versions.get_value(store, "plain").value
    assert isinstance(value, str)
    assert len(value) == 32


def test_caller_version_id_is_kept_and_second_start_returns_the_running_one(
    engine: Engine, account: str
) -> None:
    first, created = engine.start(account, started_by="test", version_id="rot-1")
    assert created
    assert first.version_id == "rot-1"
    again, created_again = engine.start(account, started_by="test")
    assert not created_again
    assert again.id == first.id
    with pytest.raises(errors.RotationInProgress):
        engine.start(account, started_by="test", require_new=True)
    engine.run(first.id)
    assert versions.get_value(engine.store, account).version_id == "rot-1"


@pytest.mark.parametrize("version_id", ["v0", "written-by-a-put"])
def test_a_version_no_rotation_made_is_refused_and_nothing_counts_as_rotated(
    engine: Engine, account: str, version_id: str
) -> None:
    """Rotating "to" the Current version (or another put's) would rotate nothing."""
    versions.put_value(engine.store, account, "by hand", version_id="written-by-a-put", stages=[])
    before = rotation_configs.get_config(engine.store, account)
    with pytest.raises(errors.VersionConflict, match="not made by a rotation"):
        engine.start(account, started_by="test", version_id=version_id)
    assert rotations.list_rotations(engine.store, account).items == []
    after = rotation_configs.get_config(engine.store, account)
    assert after == before
    assert versions.get_value(engine.store, account).version_id == "v0"


def test_a_failed_rotation_may_be_retried_under_its_version_id(
    engine: Engine, account: str
) -> None:
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    rotation_steps.finish(engine.store, first.id, Status.FAILED, message="failed")
    again, created = engine.start(account, started_by="test", version_id="rot-1")
    assert created
    assert again.id != first.id


def test_a_failed_rotation_s_own_version_is_rotated_in_again(engine: Engine, account: str) -> None:
    """Its new step had made the version when it failed: asking again with the same
    version id runs the steps again on that version (Pending again), not around it."""
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    versions.put_value(engine.store, account, "made by new", version_id="rot-1", stages=["Pending"])
    rotation_steps.finish(engine.store, first.id, Status.FAILED, message="set failed")
    assert secrets.get_secret(engine.store, account).stages == {"Current": "v0"}
    again, created = engine.start(account, started_by="test", version_id="rot-1")
    assert created
    assert secrets.get_secret(engine.store, account).stages["Pending"] == "rot-1"
    assert engine.run(again.id).status is Status.SUCCEEDED
    current = versions.get_value(engine.store, account)
    assert (current.version_id, current.value) == ("rot-1", "made by new")


def test_a_failed_rotation_s_version_made_from_a_replaced_current_is_refused(
    engine: Engine, account: str
) -> None:
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    versions.put_value(engine.store, account, "made by new", version_id="rot-1", stages=["Pending"])
    rotation_steps.finish(engine.store, first.id, Status.FAILED, message="set failed")
    versions.put_value(engine.store, account, json.dumps(ACCOUNT), version_id="by-hand")
    with pytest.raises(errors.VersionConflict, match="since been replaced"):
        engine.start(account, started_by="test", version_id="rot-1")
    assert [r.id for r in rotations.list_rotations(engine.store, account).items] == [first.id]


def test_another_version_id_while_a_rotation_runs_is_refused(engine: Engine, account: str) -> None:
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    with pytest.raises(errors.RotationInProgress, match="rot-1"):
        engine.start(account, started_by="test", version_id="rot-2")
    again, created = engine.start(account, started_by="test", version_id="rot-1")
    assert (again.id, created) == (first.id, False)
    assert [r.id for r in rotations.list_rotations(engine.store, account).items] == [first.id]


def test_a_succeeded_version_id_answers_even_while_another_rotation_runs(
    engine: Engine, account: str
) -> None:
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    assert engine.run(first.id).status is Status.SUCCEEDED
    running, _ = engine.start(account, started_by="test")
    again, created = engine.start(account, started_by="test", version_id="rot-1")
    assert (again.id, created, again.status) == (first.id, False, Status.SUCCEEDED)
    with pytest.raises(errors.VersionConflict, match="was rotated in"):
        engine.start(account, started_by="test", version_id="rot-1", require_new=True)
    assert rotations.running_rotation(engine.store, account) == running


def test_a_version_id_that_already_rotated_returns_that_rotation(
    engine: Engine, account: str
) -> None:
    first, _ = engine.start(account, started_by="test", version_id="rot-1")
    assert engine.run(first.id).status is Status.SUCCEEDED
    again, created = engine.start(account, started_by="test", version_id="rot-1")
    assert (again.id, created, again.status) == (first.id, False, Status.SUCCEEDED)
    assert [r.id for r in rotations.list_rotations(engine.store, account).items] == [first.id]
    # Another id is another rotation.
    other, created_other = engine.start(account, started_by="test", version_id="rot-2")
    assert created_other
    assert other.id != first.id


def test_unconfigured_secret_cannot_rotate(store: Store, engine: Engine) -> None:
    secrets.create_secret(store, name="bare", value="x")
    with pytest.raises(errors.InvalidParameter, match="not configured"):
        engine.start("bare", started_by="test")


def test_a_step_that_cannot_pass_fails_at_once_with_current_untouched(
    engine: Engine, account: str, caplog: pytest.LogCaptureFixture
) -> None:
    # An impossible password policy (stored past the configuration's checks) makes "new"
    # fail with InvalidParameter: retrying cannot help, so it is not retried. (Transient
    # failures are retried: tests/rotation/test_server_rotation.py.)
    rotation_configs.put_config(
        engine.store,
        account,
        enabled=True,
        function="generated-password",
        parameters={"PasswordLength": 3},
        interval_seconds=None,
        cron=None,
        window_seconds=None,
        flow=None,
        next_rotation_at=None,
        configured_by=admin_identity(engine.store).principal_id,
        delegated_secrets=None,
    )
    rotation, _ = engine.start(account, started_by="test")
    done = engine.run(rotation.id)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert "RotateSecretNew (new) failed (not retried)" in done.error
    (logged,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged.getMessage() == (
        f"rotation {rotation.id} of secret {account} failed at RotateSecretNew (new): "
        "InvalidParameter"
    )
    assert "length must be between 8 and 128" in done.error
    assert done.steps[0].attempts == 1
    events = rotations.list_events(engine.store, rotation.id)
    assert [e.kind for e in events].count("step_failed") == 1
    assert events[-1].kind == "failed"
    assert versions.get_value(engine.store, account).version_id == "v0"
    assert secrets.get_secret(engine.store, account).stages == {"Current": "v0"}
    # The next rotation starts over cleanly once the policy is fixed.
    _configure(engine, account, PasswordLength=16)
    retry, created = engine.start(account, started_by="test")
    assert created
    assert retry.version_id != rotation.version_id
    assert engine.run(retry.id).status is Status.SUCCEEDED


def test_out_of_band_write_abandons_the_rotation(engine: Engine, account: str) -> None:
    rotation, _ = engine.start(account, started_by="test")
    versions.put_value(
        engine.store,
        account,
        json.dumps(ACCOUNT | {"AccountPassword": "manual"}),
        version_id="manual",
    )
    done = engine.run(rotation.id)
    assert done.status is Status.ABANDONED
    assert versions.get_value(engine.store, account).version_id == "manual"
    assert stages.PENDING not in secrets.get_secret(engine.store, account).stages


def test_stages_moved_by_someone_else_fail_without_side_effects(
    engine: Engine, account: str
) -> None:
    rotation, _ = engine.start(account, started_by="test")
    # Simulate a finished "new" whose Pending label was then taken away.
    versions.put_value(
        engine.store, account, "x", version_id=rotation.version_id, stages=["Pending"]
    )
    stages.update_stage(engine.store, account, "Pending", remove_from_version=rotation.version_id)
    done = engine.run(rotation.id)
    assert done.status is Status.FAILED
    assert "neither Current nor Pending" in (done.error or "")
    assert versions.get_value(engine.store, account).version_id == "v0"


def test_version_already_current_completes_without_running_steps(
    engine: Engine, account: str
) -> None:
    rotation, _ = engine.start(account, started_by="test")
    versions.put_value(
        engine.store, account, "y", version_id=rotation.version_id, stages=["Pending"]
    )
    stages.update_stage(engine.store, account, "Current", move_to_version=rotation.version_id)
    done = engine.run(rotation.id)
    assert done.status is Status.SUCCEEDED
    assert all(s.attempts == 0 for s in done.steps)
    assert versions.get_value(engine.store, account).value == "y"


def test_cancel_removes_pending_and_does_not_block_the_next(engine: Engine, account: str) -> None:
    rotation, _ = engine.start(account, started_by="test")
    versions.put_value(
        engine.store, account, "p", version_id=rotation.version_id, stages=["Pending"]
    )
    cancelled = engine.cancel(account)
    assert cancelled.status is Status.CANCELLED
    assert secrets.get_secret(engine.store, account).stages == {"Current": "v0"}
    assert engine.run(rotation.id).status is Status.CANCELLED  # a cancelled run never resumes
    with pytest.raises(errors.NotFound):
        engine.cancel(account)
    following, created = engine.start(account, started_by="test")
    assert created
    assert engine.run(following.id).status is Status.SUCCEEDED


def test_a_live_lease_keeps_other_runners_out(engine: Engine, account: str) -> None:
    rotation, _ = engine.start(account, started_by="test")
    assert rotation_steps.claim(engine.store, rotation.id, "someone-else", 60)
    untouched = engine.run(rotation.id)
    assert untouched.status is Status.RUNNING
    assert untouched.step_index == 0
    assert rotation_steps.resumable(engine.store, rotation.created_at) == []


def test_a_refused_configuration_keeps_the_old_one_and_leaves_nothing(
    engine: Engine, account: str
) -> None:
    before = [v.version_id for v in versions.list_versions(engine.store, account).items]
    with pytest.raises(errors.InvalidParameter, match="length must be between"):
        _configure(engine, account, PasswordLength=500)
    config = rotation_configs.get_config(engine.store, account)
    assert config is not None
    assert config.parameters["PasswordLength"] == 24  # the old configuration stays
    after = [v.version_id for v in versions.list_versions(engine.store, account).items]
    assert after == before


def _racer(
    data_dir: str,
    url: str,
    start: multiprocessing.synchronize.Event,
    out: multiprocessing.Queue[str],
) -> None:
    store = Store.open(
        Settings.load({"data_dir": Path(data_dir), "database_url": url}, environ={}),
        initialise=False,
    )
    engine = Engine(store, store.settings, owner="racer")
    start.wait()
    try:
        rotation, created = engine.start("db/app", started_by="racer", require_new=True)
        out.put(f"created {rotation.id}" if created else "existing")
    except errors.RotorError as exc:
        out.put(exc.code)
    finally:
        store.close()


def test_two_processes_racing_start_exactly_one_rotation(
    engine: Engine, account: str, settings: Settings
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(str(settings.data_dir), settings.database_url, start, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    created = [r for r in results if r.startswith("created")]
    assert len(created) == 1
    assert sorted(r for r in results if not r.startswith("created")) == ["RotationInProgress"] * 3
    history = rotations.list_rotations(engine.store, account).items
    assert len(history) == 1


def test_a_write_between_attempts_abandons_at_the_next_attempt_without_recording_it(
    engine: Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check of the stages is in the transaction that records each attempt, so a
    # retry sees a value written while it waited, and nothing counts as attempted.
    def fails_once_meanwhile_written(*args: object, **kwargs: object) -> object:
        monkeypatch.undo()
        manual = json.dumps(ACCOUNT | {"AccountPassword": "manual"})
        versions.put_value(engine.store, account, manual, version_id="manual")
        raise errors.ServiceUnavailable("transient")

    monkeypatch.setattr(engine, "_invoke", fails_once_meanwhile_written)
    rotation, _ = engine.start(account, started_by="test")
    done = engine.run(rotation.id)
    assert done.status is Status.ABANDONED
    assert done.steps[0].attempts == 1
    assert [e.kind for e in rotations.list_events(engine.store, rotation.id)] == [
        "started",
        "step_failed",
        "abandoned",
    ]
    assert versions.get_value(engine.store, account).version_id == "manual"


class _Crash(BaseException):
    """The process dying at a chosen point (not an Exception: nothing handles it)."""


def test_a_crash_after_a_task_before_its_success_is_recorded_runs_it_again_on_resume(
    store: Store, engine: Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A task's success is recorded with the next task's first attempt: dying between
    # them leaves the task unfinished, and the resumed rotation runs it again (new finds
    # its version written and keeps it).
    real = rotation_steps.start_step

    def dies_recording_new(*args: object, **kwargs: object) -> object:
        if kwargs.get("after") is not None:
            raise _Crash
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rotation_steps, "start_step", dies_recording_new)
    rotation, _ = engine.start(account, started_by="test")
    with pytest.raises(_Crash):
        engine.run(rotation.id)
    monkeypatch.undo()
    left = rotations.get_rotation(store, rotation.id)
    assert (left.status, left.step_index) == (Status.RUNNING, 0)
    assert (left.steps[0].attempts, left.steps[0].finished_at) == (1, None)
    written = versions.get_value(store, account, version_id=rotation.version_id).value
    assert rotation_steps.claim(store, rotation.id, "test-runner", -1)  # its lease runs out
    done = Engine(store, engine.settings, owner="another-runner").run(rotation.id)
    assert done.status is Status.SUCCEEDED
    assert [s.attempts for s in done.steps] == [2, 1, 1, 1]
    assert versions.get_value(store, account).value == written
    kinds = [e.kind for e in rotations.list_events(store, rotation.id)]
    assert kinds == ["started", "resumed"] + ["step_succeeded"] * 4 + ["succeeded"]
