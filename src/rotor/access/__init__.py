"""Access: principals' access keys and authentication (bearer keys, rotor's and the cloud's
request signatures), policies, delegation to rotation functions, and the audit log."""

from __future__ import annotations
