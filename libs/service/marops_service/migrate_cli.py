"""``marops-migrate SERVICE...``: apply a service's database migrations, then exit.

Deployments run this once per release (a Kubernetes Job before the new pods start, a
one-shot Compose service) and start the services with ``<SERVICE>_MIGRATE_ON_START=false``,
so no API or worker replica changes the schema under the others. The database URL and its
TLS settings are the service's own settings (``<SERVICE>_DATABASE_URL`` ...).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

from . import db
from .settings import ServiceSettings

SERVICES = ("intake", "governance", "budget", "metrics")


def service_settings(service: str) -> ServiceSettings:
    """The service's settings class (``marops_<service>.settings.Settings``), read from the environment."""
    settings: ServiceSettings = importlib.import_module(f"marops_{service}.settings").Settings()
    return settings


def service_migration_sets(service: str) -> list[db.MigrationSet]:
    """Library tables, then the service's own ``migrations/`` (the order the service applies them in)."""
    package = importlib.import_module(f"marops_{service}")
    return [*db.library_migrations(), db.MigrationSet(service, Path(str(package.__file__)).parent / "migrations")]


async def migrate(service: str) -> list[str]:
    settings = service_settings(service)
    return await db.apply_migrations(settings.database_url, service_migration_sets(service))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marops-migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", nargs="+", choices=SERVICES, metavar="SERVICE",
                        help=f"one or more of {', '.join(SERVICES)}")
    args = parser.parse_args(argv)
    for service in dict.fromkeys(args.services):
        try:
            applied = asyncio.run(migrate(service))
        except Exception as exc:  # the Job's log is what an operator reads: say what failed, exit non-zero
            print(f"marops-migrate: {service}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"marops-migrate: {service}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
