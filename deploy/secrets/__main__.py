"""`python -m deploy.secrets`: every secret docker-compose.yml needs (`make secrets`).

    python -m deploy.secrets [--dir DIR]     fill in DIR/.env and DIR/secrets/ (default: .)
    python -m deploy.secrets check [--dir DIR]
        every variable docker-compose.yml requires has a value (names only); placeholders
        still to replace are named too
    python -m deploy.secrets token ROLE [--user U] [--name N] [--agency A] [--hours H]
        a bearer token signed with .env's ONESTOP_AUTH_JWT_SECRET (the operator's first)
    python -m deploy.secrets officer SUB NAME
        a signing key for the person whose token's sub is SUB (DIGITIZATION_OFFICER_KEYS)

Secrets are written, never printed: the output names what was added. docs/production.md
says when to run each.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from deploy.secrets.compose import missing_variables, read_env_file, variables
from deploy.secrets.generate import ENV_FILE, SECRETS_DIR, add_officer, generate, placeholders
from deploy.secrets.tokens import operator_token
from services.product.roles import Role

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def compose_file(directory: Path) -> Path:
    """The project's own docker-compose.yml, else this checkout's (an installed package,
    as in the image, has none of its own)."""
    own = directory / COMPOSE_FILE.name
    return own if own.exists() else COMPOSE_FILE


def check(directory: Path) -> list[str]:
    """What `docker compose up` would stop at, given directory/.env and this shell."""
    raw = yaml.safe_load(compose_file(directory).read_text(encoding="utf-8"))
    found = missing_variables(raw, variables(directory, os.environ))
    return [f"{name}: {message}" for name, message in sorted(found.items())]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy.secrets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("."),
                        help="where .env and secrets/ are (docker-compose.yml's folder)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("generate", help="fill in what is missing (the default)")
    commands.add_parser("check", help="what docker compose would refuse to start without")
    token = commands.add_parser("token", help="an operator's bearer token")
    token.add_argument("role", choices=[r.value for r in Role])
    token.add_argument("--user", help="the token's sub (default dev-<role>)")
    token.add_argument("--name", help="the name printed on slips (default: the user)")
    token.add_argument("--agency", help="the agency whose tree the token sees ('*': all)")
    token.add_argument("--hours", type=float, default=12.0)
    officer = commands.add_parser("officer", help="a signing key for a person")
    officer.add_argument("subject", help="their token's sub")
    officer.add_argument("name", help="the name on their certificate")
    for sub in commands.choices.values():
        sub.add_argument("--dir", type=Path, default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "token":
            print(operator_token(args.dir, args.role, user=args.user, name=args.name,
                                 agency=args.agency, hours=args.hours))
            return 0
        if args.command == "officer":
            path = add_officer(args.dir, args.subject, args.name)
            print(f"{args.subject}: {path} (DIGITIZATION_OFFICER_KEYS); restart digitization")
            return 0
        if args.command in (None, "generate"):
            added = generate(args.dir)
            where = f"{args.dir / ENV_FILE} and {args.dir / SECRETS_DIR}/"
            print(f"{where}: " + (f"added {', '.join(added)}" if added else "nothing missing"))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = check(args.dir)
    for line in problems:
        print(f"missing  {line}", file=sys.stderr)
    for name in placeholders(read_env_file(args.dir / ENV_FILE)):
        print(f"placeholder  {name}: the screens cannot sign in until it is your OIDC "
              "issuer's (docs/production.md)", file=sys.stderr)
    if not problems:
        print(f"{compose_file(args.dir)}: every required variable has a value")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
