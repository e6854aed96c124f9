"""The ``dbseal`` command: parse options, call one command function, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from dbseal import __version__
from dbseal.cli.args import (
    add_keyring_options,
    add_mysql_options,
    add_output_options,
    add_secret_options,
)
from dbseal.cli.bench_args import add_bench_command
from dbseal.cli.binlog_args import (
    add_pitr_restore_options,
    add_pitr_verify_options,
    register_binlog_commands,
)
from dbseal.cli.check_args import add_check_command
from dbseal.cli.events_args import add_event_options, observed
from dbseal.cli.forget_args import add_forget_options
from dbseal.cli.output import print_error, quiet_stdout, wants_json
from dbseal.cli.pg_args import add_pg_backup_options
from dbseal.cli.physical_args import add_physical_options
from dbseal.cli.physrestore_args import add_datadir_options
from dbseal.cli.report_args import register_report
from dbseal.cli.runlock_args import add_runlock_options
from dbseal.cli.schedule_args import add_schedule_commands
from dbseal.crypto.hardening import harden_process
from dbseal.errors import DbsealError, Interrupted, OutputError, UsageError


def _lazy(module: str, name: str) -> Any:
    """A command function imported only when that command runs (keeps start-up fast)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        func = getattr(importlib.import_module(f"dbseal.cli.{module}"), name)
        rc: int = func(args)
        return rc

    return run


class _Parser(argparse.ArgumentParser):
    """Every parser and subparser: usage errors are UsageError, and no abbreviations.

    ``allow_abbrev`` is off: ``--rep`` must not silently mean ``--repo`` (or, one day,
    ``--replace``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def _identity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i",
        "--identity",
        action="append",
        metavar="FILE",
        help="identity file with AGE-SECRET-KEY-1... lines (mode 0600); repeatable",
    )
    add_secret_options(p, "passphrase", "passphrase", "-p")
    add_keyring_options(p, with_key=False)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dbseal", description="Encrypted, compressed, verified database backups.")
    parser.add_argument("--version", action="version", version=f"dbseal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("keygen", help="make an X25519 identity (age-compatible)")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the identity here (0600) and print the recipient",
    )
    p.set_defaults(func=_lazy("commands", "cmd_keygen"))

    p = sub.add_parser("seal", help="compress and encrypt a stream")
    p.add_argument(
        "-r",
        "--recipient",
        action="append",
        metavar="age1...",
        help="recipient: age1... public key or awskms:KEY[?region=..&endpoint=..]; repeatable",
    )
    p.add_argument(
        "-R",
        "--recipients-file",
        action="append",
        metavar="FILE",
        help="file of recipients; repeatable",
    )
    add_secret_options(p, "passphrase", "passphrase", "-p")
    add_keyring_options(p, with_key=True)
    p.add_argument(
        "--compress",
        default="zstd",
        metavar="CODEC[:LEVEL]",
        help="zstd (default, level 3), lz4, gzip or none",
    )
    p.add_argument(
        "--label", action="append", metavar="KEY=VALUE", help="extra authenticated metadata"
    )
    p.add_argument("-o", "--output", metavar="OUT", help="output file (appears only when complete)")
    p.add_argument("input", nargs="?", metavar="IN", help="input file (default: standard input)")
    p.set_defaults(func=_lazy("commands", "cmd_seal"))

    p = sub.add_parser("unseal", help="authenticate, decrypt and decompress")
    _identity_options(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file: appears only after the whole file authenticated",
    )
    p.add_argument("input", nargs="?", metavar="IN")
    p.set_defaults(func=_lazy("commands", "cmd_unseal"))

    p = sub.add_parser("inspect", help="describe a sealed file, no key needed")
    p.add_argument("--json", action="store_true")
    p.add_argument("input", metavar="FILE")
    p.set_defaults(func=_lazy("commands", "cmd_inspect"))

    _repo_commands(sub)

    keys = sub.add_parser("keys", help="manage a keyring of versioned keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    p = ksub.add_parser("init", help="create a keyring with a first key")
    add_keyring_options(p, with_key=False)
    p.add_argument(
        "--key", default="default", metavar="NAME", help="name of the first key (default: default)"
    )
    p.set_defaults(func=_lazy("commands", "cmd_keys_init"))
    p = ksub.add_parser("list", help="list keys and versions")
    add_keyring_options(p, with_key=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("commands", "cmd_keys_list"))
    _key_lifecycle(ksub, sub)
    _server_commands(sub)
    add_schedule_commands(sub)
    add_check_command(sub, _lazy)
    register_report(sub, _lazy("report_commands", "cmd_report"), _repo_opts)
    add_bench_command(sub, _lazy)
    add_event_options(parser)
    add_output_options(parser)
    return parser


def _key_lifecycle(ksub: Any, sub: Any) -> None:
    k = "keys_commands"
    p = ksub.add_parser("rotate", help="add a new version of a key; new backups use it")
    p.add_argument("name", metavar="NAME")
    add_keyring_options(p, with_key=False)
    p.set_defaults(func=_lazy(k, "cmd_keys_rotate"))

    p = ksub.add_parser(
        "status", help="keys, versions, ages, dependent backups, rotation and escrow warnings"
    )
    add_keyring_options(p, with_key=False)
    _repo_opts(p)
    p.add_argument(
        "--max-age-days", type=int, default=365, help="without --repo: rotation due after this age"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy(k, "cmd_keys_status"))

    p = ksub.add_parser(
        "retire", help="erase an old version once no backup in the repository needs it"
    )
    p.add_argument("ref", metavar="NAME:VERSION")
    add_keyring_options(p, with_key=False)
    _repo_opts(p)
    p.set_defaults(func=_lazy(k, "cmd_keys_retire"))

    p = ksub.add_parser(
        "passwd", help="change the keyring's passphrase (re-seals the keyring only)"
    )
    add_keyring_options(p, with_key=False)
    add_secret_options(p, "new-passphrase", "new keyring passphrase", None)
    p.set_defaults(func=_lazy(k, "cmd_keys_passwd"))

    p = ksub.add_parser(
        "destroy", help="crypto-shred a key (or one version): lists what becomes unrecoverable"
    )
    p.add_argument("ref", metavar="NAME[:VERSION]")
    add_keyring_options(p, with_key=False)
    _repo_opts(p)
    p.add_argument(
        "--yes-destroy-key-material",
        dest="yes_destroy",
        action="store_true",
        help="really destroy (without it, only the list is printed)",
    )
    p.set_defaults(func=_lazy(k, "cmd_keys_destroy"))

    p = ksub.add_parser("export", help="a printable paper copy of the keyring (escrow)")
    add_keyring_options(p, with_key=False)
    p.add_argument(
        "--paper", action="store_true", required=True, help="printable, checksummed lines"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (0600) instead of standard output"
    )
    p.set_defaults(func=_lazy(k, "cmd_keys_export"))

    p = ksub.add_parser("import", help="re-create a keyring from a paper copy")
    add_keyring_options(p, with_key=False)
    p.add_argument("--paper", required=True, metavar="FILE")
    p.set_defaults(func=_lazy(k, "cmd_keys_import"))

    p = sub.add_parser(
        "rewrap", help="change who can open backups: rewrites key envelopes only, never data"
    )
    _repo_opts(p)
    p.add_argument("backups", nargs="*", metavar="ID|NAME:latest")
    _source_opt(p)
    p.add_argument("--all", action="store_true", help="every backup in the repository")
    p.add_argument(
        "--to",
        action="append",
        metavar="SPEC",
        help="add a recipient: age1..., keyring:NAME (newest version), passphrase, awskms:KEY",
    )
    p.add_argument(
        "--remove",
        action="append",
        metavar="SPEC",
        help="remove stanzas: age1..., keyring:NAME[:VERSION], passphrase, awskms:KEY",
    )
    _identity_options(p)
    add_secret_options(p, "new-passphrase", "passphrase for --to passphrase", None)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_lazy(k, "cmd_rewrap"))

    p = sub.add_parser(
        "reencrypt",
        help="new data key and full re-seal (for an exposed key); shreds the old backup",
    )
    _repo_opts(p)
    p.add_argument("backups", nargs="*", metavar="ID|NAME:latest")
    _source_opt(p)
    p.add_argument("--all", action="store_true")
    p.add_argument("--compress", metavar="CODEC[:LEVEL]")
    p.add_argument("-r", "--recipient", action="append", metavar="age1...")
    _identity_options(p)
    p.set_defaults(func=_lazy(k, "cmd_reencrypt"))

    p = sub.add_parser(
        "forget", help="delete backups by id or by a retention policy (--keep-*, [retention])"
    )
    _repo_opts(p)
    _source_opt(p)
    add_forget_options(p)
    p.set_defaults(func=_lazy("forget_commands", "cmd_forget"))


def _tls_client_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dbseal+tls:// receiver (mutual TLS)")
    g.add_argument("--tls-ca", metavar="FILE", help="CA that signed the receiver's certificate")
    g.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    g.add_argument("--tls-key", metavar="FILE", help="this client's private key (0600)")


def _repo_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repo",
        metavar="REPO",
        help="repository: a path, file:///path, s3://bucket/prefix or dbseal+tls://host:port",
    )
    _tls_client_opts(p)
    p.add_argument(
        "--config",
        metavar="FILE",
        help="dbseal.toml (default: ./dbseal.toml, /etc/dbseal/dbseal.toml)",
    )


def _source_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        dest="source_name",
        metavar="NAME",
        help="only backups of this source (`latest` is then its newest good backup)",
    )


def _repo_commands(sub: Any) -> None:
    p = sub.add_parser("init", help="create a repository")
    p.add_argument(
        "repo",
        metavar="REPO",
        help="a path, file:///path, s3://bucket/prefix or dbseal+tls://host:port",
    )
    _tls_client_opts(p)
    p.add_argument(
        "-r",
        "--recipient",
        action="append",
        metavar="age1...",
        help="default recipient: age1... or awskms:KEY[?...]; repeatable",
    )
    p.add_argument("-R", "--recipients-file", action="append", metavar="FILE")
    add_keyring_options(p, with_key=True)
    p.add_argument(
        "--require-passphrase",
        action="store_true",
        help="every backup also gets a passphrase stanza",
    )
    p.add_argument(
        "--compress",
        default="zstd:1",
        metavar="CODEC[:LEVEL]",
        help="default codec (zstd:1; zstd:3 stores ~20%% less for more CPU)",
    )
    p.add_argument(
        "--policy",
        action="append",
        metavar="KEY=VALUE",
        help="require_encryption, min_kdf_memory_kib, min_kdf_iterations, client_older=warn|refuse, "
        "dump_warnings=warn|fail, table_checksum=dump|server|off, checksum_max_bytes",
    )
    p.set_defaults(func=_lazy("repo_commands", "cmd_init"))

    p = sub.add_parser("backup", help="back up a MariaDB/MySQL server into a repository")
    p.add_argument("name", nargs="?", metavar="NAME", help="a source from dbseal.toml")
    _repo_opts(p)
    p.add_argument("--source", metavar="mysql://USER@HOST[:PORT][/DB,...]")
    add_mysql_options(p, "", "source")
    add_pg_backup_options(p)
    p.add_argument(
        "-r",
        "--recipient",
        action="append",
        metavar="age1...",
        help="extra recipient for this backup: age1... or awskms:...",
    )
    add_secret_options(p, "passphrase", "passphrase", None)
    add_keyring_options(p, with_key=False)
    p.add_argument(
        "-i",
        "--identity",
        action="append",
        metavar="FILE",
        help="identity to open a sealed --password-secret",
    )
    p.add_argument("--compress", metavar="CODEC[:LEVEL]", help="override the repository's codec")
    p.add_argument(
        "--accounts",
        dest="accounts",
        action="store_const",
        const="yes",
        help="also back up users, roles, passwords and grants (default: only for a whole server, "
        "a source URL without a database)",
    )
    p.add_argument(
        "--no-accounts",
        dest="accounts",
        action="store_const",
        const="no",
        help="do not back up accounts, even for a whole server",
    )
    p.add_argument(
        "--exclude-database",
        action="append",
        metavar="PATTERN",
        help="leave out the databases matching PATTERN (* and ? match); repeatable",
    )
    p.add_argument(
        "--exclude-table",
        action="append",
        metavar="DB.TABLE",
        help="leave out the tables, views and sequences matching DB.TABLE (* and ? match "
        "in each part); repeatable",
    )
    add_physical_options(p)
    p.add_argument(
        "--json", action="store_true", help="JSON events on stderr, JSON result on stdout"
    )
    add_runlock_options(p)
    p.set_defaults(func=_lazy("backup_commands", "cmd_backup"))

    p = sub.add_parser("list", help="list backups (no key needed)")
    _repo_opts(p)
    _source_opt(p)
    p.add_argument("--database", metavar="DB", help="only backups that hold this database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("repo_commands", "cmd_list"))

    p = sub.add_parser(
        "show", help="show one backup; with a key, also authenticate it and show the dump log"
    )
    _repo_opts(p)
    p.add_argument("backup", metavar="ID|latest|NAME:latest")
    _source_opt(p)
    _identity_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("repo_commands", "cmd_show"))

    p = sub.add_parser(
        "restore", help="restore a backup into a server (authenticates it all first)"
    )
    _repo_opts(p)
    p.add_argument("backup", metavar="ID|latest|NAME:latest")
    _source_opt(p)
    p.add_argument("--target", metavar="mysql://USER@HOST[:PORT]")  # or --datadir
    add_mysql_options(p, "target-", "target")
    _identity_options(p)
    p.add_argument(
        "--database", action="append", metavar="NAME", help="restore only this database; repeatable"
    )
    p.add_argument(
        "--rename-db", action="append", metavar="OLD=NEW", help="restore database OLD as NEW"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="DESTROYS the current contents of every target database that exists: replaces them "
        "with the backup's once the new copy is complete (without it, a database that exists "
        "and is not empty is refused); also removes what an incomplete restore left",
    )
    p.add_argument(
        "--keep-events-enabled",
        action="store_true",
        help="with --rename-db: keep the copy's scheduled events enabled (default: disabled)",
    )
    p.add_argument(
        "--allow-old-references",
        action="store_true",
        help="with --rename-db: restore objects whose text still names a renamed database",
    )
    p.add_argument(
        "--no-verify-first",
        action="store_true",
        help="stream in one pass (faster; a damaged backup is then detected only after part was "
        "applied to the staging copy; the target still stays as it was)",
    )
    p.add_argument(
        "--allow-failed", action="store_true", help="restore a backup recorded as failed"
    )
    p.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="where a restore from S3 or a receiver keeps the sealed (still encrypted) data "
        "read by the authenticate pass, so the apply pass needs no storage (default: $TMPDIR)",
    )
    p.add_argument(
        "--no-spool",
        action="store_true",
        help="read a remote repository again for the apply pass (a storage outage then stops "
        "the restore; the target stays as it was)",
    )
    p.add_argument(
        "--accounts",
        action="store_true",
        help="also create the backup's accounts that the target lacks (accounts the target "
        "already has are left unchanged)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=2,
        metavar="N",
        help="connections to the target (default 2): the rows of large tables are loaded over "
        "all of them; 1 feeds one client the dump as it is (without its LOCK TABLES lines)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("backup_commands", "cmd_restore"))
    add_pitr_restore_options(p)  # --until...: point-in-time recovery (cli/binlog_args.py)
    add_datadir_options(p)  # physical restores (--datadir); cli/physrestore_args.py
    p.set_defaults(func=_lazy("restore_dispatch", "cmd_restore_dispatch"))  # --until, --datadir
    register_binlog_commands(sub)

    p = sub.add_parser(
        "verify", help="prove backups restore: integrity (keyless), decrypt, restore"
    )
    _repo_opts(p)
    p.add_argument("backups", nargs="*", metavar="ID|latest|NAME:latest", help="default: latest")
    _source_opt(p)
    p.add_argument("--all", action="store_true", help="every good backup")
    p.add_argument("--since", metavar="DURATION", help="good backups started within e.g. 24h, 7d")
    p.add_argument(
        "--level",
        choices=("integrity", "decrypt", "restore"),
        default="decrypt",
        help="integrity: no key; decrypt (default): authenticate everything; "
        "restore: restore into a throwaway server and compare",
    )
    p.add_argument(
        "--scratch",
        metavar="mysql://USER@HOST[:PORT]",
        help="restore level: use this server (only dbseal's own databases are created and dropped)",
    )
    add_mysql_options(p, "scratch-", "scratch server")
    _identity_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("verify_commands", "cmd_verify"))
    add_pitr_verify_options(p)  # --pitr --until...: cli/binlog_args.py

    repo_cmd = sub.add_parser("repo", help="repository maintenance")
    rsub = repo_cmd.add_subparsers(dest="repo_command", required=True, parser_class=_Parser)
    p = rsub.add_parser(
        "check", help="report (and with --clean remove) what interrupted writes left"
    )
    _repo_opts(p)
    p.add_argument(
        "--clean", action="store_true", help="remove leftovers and orphans older than --min-age"
    )
    p.add_argument(
        "--min-age",
        default="1h",
        metavar="DURATION",
        help="orphans younger than this may belong to a running backup (default 1h)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("repo_commands", "cmd_repo_check"))

    secret = sub.add_parser("secret", help="credentials sealed in the repository")
    ssub = secret.add_subparsers(dest="secret_command", required=True, parser_class=_Parser)
    p = ssub.add_parser("set", help="seal a secret (e.g. a database password) into the repository")
    _repo_opts(p)
    p.add_argument("name", metavar="NAME")
    add_secret_options(p, "value", "secret value", None)
    add_secret_options(p, "passphrase", "passphrase", None)
    add_keyring_options(p, with_key=False)
    p.set_defaults(func=_lazy("backup_commands", "cmd_secret_set"))
    p = ssub.add_parser("list", help="names of the sealed secrets")
    _repo_opts(p)
    p.set_defaults(func=_lazy("backup_commands", "cmd_secret_list"))


def _server_commands(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="receive backups from dbseal clients over mutual TLS 1.3 (dbseal+tls://)"
    )
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to listen on")
    p.add_argument(
        "--repo", required=True, metavar="REPO", help="the repository served: a path or s3://..."
    )
    p.add_argument("--cert", required=True, metavar="FILE", help="the receiver's certificate")
    p.add_argument("--key", required=True, metavar="FILE", help="its private key (0600)")
    p.add_argument(
        "--client-ca", required=True, metavar="FILE", help="CA that signs client certificates"
    )
    p.add_argument(
        "--allow",
        action="append",
        metavar="CLIENT_NAME",
        help="accept only clients whose certificate CN or DNS name is this; repeatable",
    )
    p.add_argument(
        "--append-only",
        action="store_true",
        help="clients may add objects but never delete or overwrite them",
    )
    p.add_argument(
        "--max-connections", type=int, default=32, metavar="N", help="authenticated connections"
    )
    p.add_argument(
        "--max-handshakes",
        type=int,
        default=64,
        metavar="N",
        help="connections still in their TLS handshake (apart from --max-connections; default 64)",
    )
    p.add_argument(
        "--max-handshakes-per-address",
        type=int,
        default=8,
        metavar="N",
        help="of those, from one address (default 8); more are closed at once",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time a connection has to finish its TLS handshake (default 10)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="close a client connection that sends no whole request this long (default 120)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines on stderr instead of text")
    p.set_defaults(func=_lazy("serve_commands", "cmd_serve"))

    tls = sub.add_parser("tls", help="a small CA for receivers and clients (no PKI needed)")
    tsub = tls.add_subparsers(dest="tls_command", required=True, parser_class=_Parser)
    p = tsub.add_parser("init", help="create a CA: ca-cert.pem and ca-key.pem (0600)")
    p.add_argument("--dir", required=True, metavar="DIR")
    p.add_argument("--name", metavar="NAME", help="the CA's common name (default: dbseal CA)")
    p.set_defaults(func=_lazy("tls_commands", "cmd_tls_init"))
    p = tsub.add_parser("issue", help="issue a server or client certificate signed by the CA")
    p.add_argument("--dir", required=True, metavar="DIR", help="the CA directory")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--server", metavar="NAME", help="the receiver's host name")
    who.add_argument("--client", metavar="NAME", help="the client's name (what --allow matches)")
    p.add_argument("--ip", action="append", metavar="ADDR", help="extra IP address name")
    p.add_argument("--dns", action="append", metavar="NAME", help="extra DNS name")
    p.add_argument("--days", type=int, metavar="N", help="validity (default 730)")
    p.set_defaults(func=_lazy("tls_commands", "cmd_tls_issue"))


def _require_keyring(args: argparse.Namespace) -> None:
    if getattr(args, "command", None) == "keys":
        from dbseal.cli.config import apply_config

        args.keyring = args.keyring or os.environ.get("DBSEAL_KEYRING")
        apply_config(args, None)  # dbseal.toml: keyring, its passphrase file/command, repository
        if not args.keyring:
            raise UsageError(
                "no keyring directory given",
                hint="pass --keyring DIR, set DBSEAL_KEYRING, or set keyring in dbseal.toml",
            )


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so `finally` blocks stop child servers and remove temp files."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    harden_process()
    import signal

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(argv)
    try:
        args = build_parser().parse_args(argv)
        observed(args)  # -q/-v merged; start/end events, event log, syslog, hooks, pings
        _require_keyring(args)
        with quiet_stdout(args):
            rc: int = args.func(args)
        if rc and getattr(args, "quiet", False) and not as_json:
            print(
                f"dbseal: error: exit status {rc} (hint: run it without -q for the details)",
                file=sys.stderr,
            )
        return rc
    except DbsealError as exc:
        print_error(exc, as_json)
        return exc.exit_code
    except KeyboardInterrupt:
        err = Interrupted("interrupted by the user")
        print_error(err, as_json)
        return err.exit_code
    except BrokenPipeError:
        return _broken_pipe()
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("DBSEAL_DEBUG"):
            raise
        bug = DbsealError(f"internal error {type(exc).__name__}: {exc}")
        print_error(bug, as_json, " (set DBSEAL_DEBUG=1 for a traceback)")
        return bug.exit_code


def _broken_pipe() -> int:
    err = OutputError("the reader of standard output went away")
    try:
        print(err.one_line(), file=sys.stderr)
    finally:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
