"""The HTTP server: the front door, the native REST API under ``/v1``, and the
compatible dialects (the cloud KMS API), all over one read handler, one engine and one
access model."""

from __future__ import annotations
