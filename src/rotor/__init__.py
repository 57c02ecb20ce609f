"""rotor: a self-hosted secrets manager that rotates database credentials safely."""

from __future__ import annotations

__version__ = "0.1.0"
