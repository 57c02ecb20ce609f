"""Access: access keys and authentication (policies and audit join later)."""

from __future__ import annotations
