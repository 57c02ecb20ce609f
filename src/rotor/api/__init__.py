"""The HTTP server: the native REST API (and, later, the compatible dialects)."""

from __future__ import annotations
