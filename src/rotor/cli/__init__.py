"""The ``rotor`` command line: thin commands over :mod:`rotor.client` (and, offline, the store).

The app lives in :mod:`rotor.cli.main`; ``rotor.cli.main:main`` is the entry point.
"""

from __future__ import annotations
