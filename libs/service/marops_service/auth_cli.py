"""``marops-token``: mint a local JWT for calling the APIs.

    marops-token --sub alice --role requester --team growth
    marops-token --sub ads-bridge --role service --source-system google-ads

The secret comes from MAROPS_JWT_SECRET, or from .infra/jwt-secret (written by
``make run``) in the current directory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import SecretStr

from .auth import Role, mint
from .settings import ServiceSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="marops-token", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sub", required=True, help="user id")
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    parser.add_argument("--team", default=None)
    parser.add_argument("--source-system", action="append", default=None, dest="source_systems",
                        help="for a service account: a system whose spend it may record (repeat for several)")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    parser.add_argument("--private-key-file", type=Path, help="PEM key for RS256")
    args = parser.parse_args(argv)

    settings = ServiceSettings()
    secret_file = Path(".infra/jwt-secret")
    if settings.jwt_secret is None and settings.jwt_algorithm == "HS256":
        if not secret_file.exists():
            parser.error("set MAROPS_JWT_SECRET (or run from the repository after `make run`)")
        settings.jwt_secret = SecretStr(secret_file.read_text().strip())
    private_key = args.private_key_file.read_text() if args.private_key_file else os.environ.get("MAROPS_JWT_PRIVATE_KEY")
    print(mint(settings, args.sub, args.role, args.team, args.ttl, private_key, source_systems=args.source_systems))


if __name__ == "__main__":
    main()
