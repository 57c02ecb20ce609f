"""Tools for tests and local development; nothing in rotor's serving path imports them.

- :mod:`rotor.devtools.rds_standin`: a stand-in for the Alibaba Cloud RDS OpenAPI
  (2014-08-15) acting on a real MariaDB, run with
  ``python -m rotor.devtools.rds_standin --config FILE``.
"""

from __future__ import annotations
