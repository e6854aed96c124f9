"""`dbseal tls init` / `dbseal tls issue`: a small CA for a receiver and its clients."""

from __future__ import annotations

import argparse

from dbseal.cli.output import emit
from dbseal.errors import UsageError


def cmd_tls_init(args: argparse.Namespace) -> int:
    from dbseal.crypto.pki import check_name, init_ca

    ca = init_ca(args.dir, check_name(args.name, "CA name") if args.name else "dbseal CA")
    emit(
        args,
        {"cert": str(ca.cert), "key": str(ca.key), "not_after": ca.not_after.isoformat()},
        f"created CA in {args.dir} (valid until {ca.not_after:%Y-%m-%d})\n"
        f"  {ca.cert}  give to the receiver (--client-ca) and to clients (--tls-ca)\n"
        f"  {ca.key}  mode 0600: keep it safe, it signs every certificate",
    )
    return 0


def cmd_tls_issue(args: argparse.Namespace) -> int:
    from dbseal.crypto.pki import Role, issue

    if bool(args.server) == bool(args.client):
        raise UsageError("pass exactly one of --server NAME and --client NAME")
    role: Role = "server" if args.server else "client"
    name = args.server or args.client
    if args.days is not None and args.days < 1:
        raise UsageError("--days must be at least 1")
    not_after = None
    if args.days is not None:
        import datetime as dt

        not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=args.days)
    got = issue(args.dir, name, role, ips=args.ip or (), dns=args.dns or (), not_after=not_after)
    use = (
        f"  dbseal serve --cert {got.cert} --key {got.key} --client-ca {args.dir}/ca-cert.pem"
        if role == "server"
        else f"  --tls-cert {got.cert} --tls-key {got.key} --tls-ca {args.dir}/ca-cert.pem"
    )
    emit(
        args,
        {
            "role": role,
            "name": name,
            "cert": str(got.cert),
            "key": str(got.key),
            "not_after": got.not_after.isoformat(),
        },
        f"issued {role} certificate {name!r} (valid until {got.not_after:%Y-%m-%d})\n{use}",
    )
    return 0
