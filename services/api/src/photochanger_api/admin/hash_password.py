"""`python -m photochanger_api.admin.hash_password`: make an argon2 hash for an admin account.

The password is read from standard input (or prompted for twice on a terminal), never from
the command line, where other users of the machine could see it. With `--username`, prints
a whole account entry for PHOTOCHANGER_ADMIN_ACCOUNTS / the accounts file instead.

    echo -n 's3cret' | python -m photochanger_api.admin.hash_password --username alice \\
        --permissions slots:read,slots:write,stats:read
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from argon2 import PasswordHasher

_PERMISSIONS = (
    "slots:read", "slots:write", "settings:read", "settings:write",
    "media:write", "jobs:read", "jobs:write", "stats:read",
)  # fmt: skip
MIN_LENGTH = 12


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.read().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--username", help="print a full account entry for this user")
    parser.add_argument(
        "--permissions",
        default=",".join(_PERMISSIONS),
        help="comma-separated permissions of the account (default: all)",
    )
    args = parser.parse_args(argv)
    password = _read_password()
    if len(password) < MIN_LENGTH:
        print(f"refusing a password shorter than {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    unknown = [p for p in args.permissions.split(",") if p and p not in _PERMISSIONS]
    if unknown:
        print(f"unknown permissions: {', '.join(unknown)}", file=sys.stderr)
        return 2
    hashed = PasswordHasher().hash(password)
    if args.username:
        entry = {
            "username": args.username,
            "password_hash": hashed,
            "permissions": [p for p in args.permissions.split(",") if p],
        }
        print(json.dumps(entry))
    else:
        print(hashed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
