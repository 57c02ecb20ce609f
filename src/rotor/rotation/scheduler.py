"""The scheduler: starts due rotations and resumes orphaned ones, with bounded concurrency;
and :meth:`Scheduler.rotate`, the one call that starts a rotation now and runs it.

Every ``scheduler_interval_seconds`` it
1. resumes running rotations whose runner's lease expired (a crashed process), and
2. starts a rotation for every enabled schedule whose next rotation is due,
while the pool has room: a due rotation the pool has no room for stays due (nothing is
claimed or started for it), and when the pool was full the scheduler looks again as
soon as a rotation finishes, not a whole interval later, so a burst of due rotations
runs back to back.

Every rotation that starts, by schedule or on request (both API dialects, a
configuration that rotates at once), starts through :meth:`Scheduler.rotate`: the
engine's start (with its rules for a version id given as an idempotency key), then a
run in this server's pool.

A due time that passed while no server ran starts exactly one rotation when a
server comes back (the unique running-rotation index rules out doubles, also
between several servers); a missed window waits for the next one.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import threading
import time

from rotor import errors, log_context
from rotor.clock import utcnow
from rotor.rotation import schedules
from rotor.rotation.engine import Engine
from rotor.rotation.resolution import schedule_of
from rotor.store import rotation_configs, rotation_steps
from rotor.store.rotations import Rotation, Status

log = logging.getLogger(__name__)


class Scheduler:
    """Runs one server's rotations in a bounded pool: due, orphaned, and started now."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.rotation_workers, thread_name_prefix="rotation"
        )
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Set to look for work now: stopping, or a rotation finished while work waited.
        self._wake = threading.Event()
        #: Work was left waiting for room in the pool since the last look.
        self._saturated = False
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, grace_seconds: float | None = None) -> bool:
        """Stop starting rotations and wait up to ``grace_seconds`` (default: the setting)
        for the running ones; False when some are still running (a step blocked in a
        database): they are abandoned, and their lease lets the next start resume them."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.engine.wake_all()  # a step waiting to retry gives up at once
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    return True
            self._stop.wait(0.05)
        with self._lock:
            running = sorted(self._in_flight)
        if running:
            log.warning(
                "abandoning %d running rotation(s) after %g s: %s; they resume on the next start",
                len(running),
                grace,
                ", ".join(running),
            )
        return not running

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except errors.ServiceUnavailable:
                log.warning("store unavailable; the scheduler will try again")
            except Exception:
                log.exception("scheduler tick failed; it will try again")
            self._wake.wait(self.settings.scheduler_interval_seconds)
            self._wake.clear()

    # -- work -------------------------------------------------------------------------

    def rotate(
        self,
        name: str,
        *,
        started_by: str,
        version_id: str | None = None,
        require_new: bool = False,
    ) -> tuple[Rotation, bool]:
        """Start a rotation of ``name`` now and run it; returns it and whether it is new.

        :meth:`Engine.start` decides which rotation answers (``version_id`` is an
        idempotency key); one still running runs in the pool, unless this server runs it
        already, and puts the secret's next scheduled rotation off until it finishes.
        """
        rotation, created = self.engine.start(
            name, started_by=started_by, version_id=version_id, require_new=require_new
        )
        if rotation.status is Status.RUNNING:
            self._put_off_schedule(name)
            self.submit(rotation.id)
        return rotation, created

    def _put_off_schedule(self, name: str) -> None:
        """A provisional next time, so a due time does not start a second rotation; the
        engine sets the real one when the rotation finishes."""
        config = rotation_configs.get_config(self.engine.store, name)
        schedule = schedule_of(config) if config is not None and config.enabled else None
        if schedule is not None:
            rotation_configs.set_schedule_times(
                self.engine.store,
                name,
                next_rotation_at=schedules.after_rotation(schedule, finished_at=utcnow()),
            )

    def submit(self, rotation_id: str) -> bool:
        """Run a rotation in the pool unless this server already runs it."""
        with self._lock:
            if rotation_id in self._in_flight:
                return False
            if len(self._in_flight) >= self.settings.rotation_workers:
                self._saturated = True
                return False  # picked up on a later tick
            self._in_flight.add(rotation_id)
        self._pool.submit(self._run, rotation_id)
        return True

    def _run(self, rotation_id: str) -> None:
        # The line below names the rotation too (the engine's own context ends with it).
        with log_context.rotation(rotation_id):
            try:
                self.engine.run(rotation_id)
            except Exception:
                log.exception("rotation %s stopped unexpectedly; it will be resumed", rotation_id)
            finally:
                with self._lock:
                    self._in_flight.discard(rotation_id)
                    waiting = self._saturated
                if waiting:
                    self._wake.set()  # room in the pool: look for what waits now

    def tick(self) -> None:
        with self._lock:
            self._saturated = False
        now = utcnow()
        for rotation_id in rotation_steps.resumable(self.engine.store, now):
            if not self.submit(rotation_id) and self._full():
                break
        for config in rotation_configs.due_configs(self.engine.store, now):
            if self._full():
                break  # still due: started when a rotation finishes
            self._consider(config)

    def _full(self) -> bool:
        """No room in the pool (and so work waits: the next finish looks again)."""
        with self._lock:
            full = len(self._in_flight) >= self.settings.rotation_workers
            if full:
                self._saturated = True
            return full

    def _consider(self, config: rotation_configs.RotationConfig) -> None:
        store = self.engine.store
        name = config.secret_name
        schedule = schedule_of(config)
        if schedule is None or config.next_rotation_at is None:
            return
        now = utcnow()
        # A manual value change restarts an interval: look again from the facts.
        due = schedules.next_due(
            schedule,
            last_rotated_at=config.last_rotated_at,
            last_changed_at=rotation_configs.current_version_created_at(store, name),
            enabled_at=config.enabled_at,
            now=now,
        )
        due = max(due, config.next_rotation_at)
        seen = config.next_rotation_at
        # ``config`` was read at the start of the tick: another node may have rotated the
        # secret since. Every move of the due time is a compare-and-set on the time seen.
        if due > now:
            rotation_configs.move_next_rotation(store, name, seen=seen, next_rotation_at=due)
            return
        decision = schedules.decide(schedule, due, now)
        if not decision.rotate:
            log.info("missed the rotation window of %s; next at %s", name, decision.next_due)
            rotation_configs.move_next_rotation(
                store, name, seen=seen, next_rotation_at=decision.next_due
            )
            return
        # Claim the due time for as long as a lease: no other scheduler starts it, and
        # if this start fails another one tries again then.
        claim = now + dt.timedelta(seconds=self.settings.rotation_lease_seconds)
        if not rotation_configs.move_next_rotation(store, name, seen=seen, next_rotation_at=claim):
            return
        self.rotate(name, started_by="scheduler")
