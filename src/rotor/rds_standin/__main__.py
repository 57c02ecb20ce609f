"""``python -m rotor.rds_standin --config FILE``."""

from __future__ import annotations

import sys

from rotor.rds_standin.server import main

sys.exit(main())
