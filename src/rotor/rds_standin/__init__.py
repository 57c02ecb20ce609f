"""A stand-in for the Alibaba Cloud RDS OpenAPI (2014-08-15), for trying RDS rotation locally.

The real RDS API cannot be reached from a laptop or a test; the stand-in answers it
over a real MariaDB, so ``rds-alternating`` (and the reference RDS function through
its SDK) can be tried end to end. Run it with
``python -m rotor.rds_standin --config FILE``. Nothing in rotor's serving path imports it.

- :mod:`rotor.rds_standin.server`: the HTTP server, signatures and faults.
- :mod:`rotor.rds_standin.actions`: the RDS actions it models.
- :mod:`rotor.rds_standin.mariadb`: RDS accounts and privileges as MariaDB users and grants.
"""
