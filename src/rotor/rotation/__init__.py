"""Rotation: rotation records, the step engine, schedules and flow definitions."""

from __future__ import annotations
