"""``python -m rotor``: the same as the ``rotor`` command."""

from __future__ import annotations

from rotor.cli import main

if __name__ == "__main__":
    main.main()
