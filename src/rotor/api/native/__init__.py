"""The native REST API under ``/v1`` (documented in docs/reference/api.md)."""

from __future__ import annotations
