"""The whole dbseal exception tree.

Every error a user can meet is a subclass of :class:`DbsealError` and carries
an ``exit_code`` (the CLI's process status) and a ``hint`` (what to do about
it). The exit-code table in ``docs/errors.md`` is generated from this module
(``python -m dbseal.errors``) and a test keeps the two in step.

::

    DbsealError (1)
    +-- UsageError (2)
    |   +-- ConfigError (29)
    |   |   +-- ConfigPermissions
    |   +-- PhysicalNeedsLocalServer (48)
    |   +-- PitrTargetUnavailable (63)
    +-- FormatError
    |   +-- NotDbsealFile (3)
    |   +-- UnsupportedVersion (4)
    |   +-- CorruptedData (6)
    |   |   +-- HeaderCorrupted
    |   |   +-- PayloadCorrupted
    |   |   +-- TrailerMismatch
    |   +-- TruncatedData (7)
    |   +-- UnsafeParameters (12)
    +-- NoMatchingKey (5)
    |   +-- KeyDestroyed (18)
    +-- InputError (8)
    +-- OutputError (9)
    |   +-- ScratchUnusable (55)
    +-- SecretError (10)
    |   +-- SecretPermissions
    +-- InvalidKeySpec (11)
    +-- KeyringError (13)
    |   +-- KeyringLocked (17)
    |   +-- KeyWithdrawn
    |   +-- KeyInUse (28)
    +-- StorageError (14)
    |   +-- ObjectNotFound
    |   +-- ObjectExists
    |   +-- StorageUnavailable (45)
    |   +-- ReceiverRefused (50)
    |   +-- ReceiverTLSError (51)
    +-- RepositoryError (15)
    |   +-- BackupNotFound
    |   +-- AmbiguousLatest (36)
    |   +-- ChainBroken (54)
    |   +-- BinlogGap (62)
    |   +-- NoPitrBase (65)
    +-- RepositoryNeedsAttention (35)
    +-- PolicyViolation (16)
    +-- LockHeld (19)
    +-- LockLost (46)
    +-- RunLocked (42)
    +-- ScheduleError (47)
    +-- PrunePartial (44)
    +-- IntegrityFailure (30)
    +-- DataMismatch (31)
    +-- CheckNotRun (32)
    +-- ChecksWarning (33)
    +-- ChecksCritical (34)
    +-- SandboxError (20)
    +-- DatabaseError (21)
    |   +-- DatabaseTLSError (22)
    |   +-- MissingPrivileges (53)
    |   +-- BinlogArchiveError (64)
    +-- DumpToolError (23)
    |   +-- ClientTooOld (24)
    |   |   +-- PgClientTooOld (66)
    |   +-- BackupToolMismatch (52)
    +-- DumpFailed (25)
    +-- RestoreFailed (26)
    +-- TargetNotEmpty (27)
    +-- OldReferences (39)
    +-- KmsError (40)
    +-- HookFailed (38)
    +-- HookAfterFailed (41)
    +-- Interrupted (130)

Crypto failures are deliberately opaque: a wrong key, a tampered stanza and a
corrupted wrapped key all read as :class:`NoMatchingKey`, and no message says
which check failed inside a cipher. Operational errors (files, permissions,
programs) are generous with detail. No message ever contains a secret.

This module imports nothing from dbseal.
"""

from __future__ import annotations

from typing import ClassVar


class DbsealError(Exception):
    """Base of every error dbseal reports; unexpected failures use this class."""

    exit_code: ClassVar[int] = 1
    hint: ClassVar[str] = (
        "this is a bug in dbseal unless the message says otherwise; please report it"
    )
    summary: ClassVar[str] = "unexpected failure"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint  # type: ignore[misc]

    def one_line(self) -> str:
        """The message and hint as the single line the CLI prints."""
        return f"dbseal: error: {self.message} (hint: {self.hint})"


class UsageError(DbsealError):
    exit_code = 2
    summary = "bad command line or configuration"
    hint = "see `dbseal COMMAND --help`"


class ConfigError(UsageError):
    """dbseal.toml (or another file that controls dbseal) is invalid or not safe to use."""

    exit_code = 29
    summary = "the config file is invalid, or writable or owned by someone else"
    hint = "fix the key named in the message (see README.md, Configuration)"


class ConfigPermissions(ConfigError):
    summary = "the config file, or a directory above it, is writable or owned by someone else"
    hint = "run `chmod go-w FILE` (and on its directories), or `chown` it to yourself or root"


class FormatError(DbsealError):
    """The input is not a well-formed, intact dbseal file."""

    exit_code = 6
    summary = "malformed dbseal file"


class NotDbsealFile(FormatError):
    exit_code = 3
    summary = "input is not a dbseal file"
    hint = "check that you passed the sealed file and not the plaintext or another file"


class UnsupportedVersion(FormatError):
    exit_code = 4
    summary = "format version, cipher suite or codec not supported"
    hint = "open it with the dbseal version that wrote it, or upgrade dbseal"


class CorruptedData(FormatError):
    exit_code = 6
    summary = "corrupted or tampered data"
    hint = "the file was damaged or modified after sealing; restore it from another copy"


class HeaderCorrupted(CorruptedData):
    summary = "header corrupted or tampered"


class PayloadCorrupted(CorruptedData):
    summary = "payload failed authentication"


class TrailerMismatch(CorruptedData):
    summary = "trailer does not match the file"


class TruncatedData(FormatError):
    exit_code = 7
    summary = "data ends early"
    hint = "the file is incomplete (interrupted copy or upload?); fetch a complete copy"


class UnsafeParameters(FormatError):
    exit_code = 12
    summary = "key-derivation parameters outside the accepted range"
    hint = (
        "the file asks for a key-derivation cost that is too weak or absurdly expensive; "
        "it was not written by a sane dbseal, do not trust it"
    )


class NoMatchingKey(DbsealError):
    exit_code = 5
    summary = "no identity, keyring key or passphrase opens the file"
    hint = "pass the identity (-i), keyring (--keyring) or passphrase the file was sealed for; `dbseal inspect FILE` lists its recipients"


class InputError(DbsealError):
    exit_code = 8
    summary = "input cannot be read"
    hint = "check the path and its permissions"


class OutputError(DbsealError):
    exit_code = 9
    summary = "output cannot be written"
    hint = "check the destination directory, its permissions and free space"


class SpoolNoSpace(OutputError):
    summary = "the restore's spool directory lacks the space for the backup's sealed data"
    hint = (
        "pass --spool-dir DIR on a file system with room for the stored size, or --no-spool "
        "(the apply pass then reads the repository again: a storage outage stops the "
        "restore; the target still stays as it was)"
    )


class SecretError(DbsealError):
    exit_code = 10
    summary = "a secret could not be obtained"
    hint = "give the secret with --*-file (mode 0600), --*-fd, --*-command, or at the prompt"


class SecretPermissions(SecretError):
    summary = "secret file readable or writable by others"
    hint = "run `chmod 600` on the file (and make sure you own it)"


class InvalidKeySpec(DbsealError):
    exit_code = 11
    summary = "invalid recipient, identity or key specification"
    hint = "recipients look like age1..., identity files contain AGE-SECRET-KEY-1...; see `dbseal keygen`"


class KeyringError(DbsealError):
    exit_code = 13
    summary = "keyring missing, unreadable or without the requested key"
    hint = "create one with `dbseal keys init`, and check `dbseal keys list`"


class KeyringLocked(KeyringError):
    exit_code = 17
    summary = "another dbseal process kept the keyring locked for too long"
    hint = "wait for the other `dbseal keys` command to finish, then run this one again"


class KeyWithdrawn(KeyringError):
    summary = "a keyring key a backup sealed for was retired or destroyed while it ran"
    hint = "the backup is recorded as failed; run it again (it seals for the newest active version)"


class KeyInUse(KeyringError):
    exit_code = 28
    summary = "a running backup seals for this key version"
    hint = (
        "wait for the backup to finish; if it died, its announcement goes stale by itself "
        "(docs/design.md, in-flight backups)"
    )


class StorageError(DbsealError):
    exit_code = 14
    summary = "the repository storage failed"
    hint = "check that the repository location is reachable, readable and writable"


class ObjectNotFound(StorageError):
    summary = "an object is missing from the repository"
    hint = "check the backup id with `dbseal list`; if objects were lost, use another copy of the repository"


class ObjectExists(StorageError):
    summary = "an object already exists and is never overwritten"
    hint = "this is a name collision; run the command again"


class StorageUnavailable(StorageError):
    """A failure that may pass by itself (timeout, refused connection, throttling, 5xx).

    The retrying backend wrapper (``dbseal.storage.retry``) retries exactly these.
    """

    exit_code = 45
    summary = "the repository storage did not answer, or asked to slow down (transient)"
    hint = "run the command again later; if it persists, check the network path and the endpoint"


class ReceiverRefused(StorageError):
    exit_code = 50
    summary = "the backup receiver (`dbseal serve`) refused the request"
    hint = (
        "the message says why: an --append-only receiver never deletes or overwrites "
        "(run forget, rewrap or secret set on the receiver host against its repository); "
        "a client not in --allow needs a certificate with an allowed name"
    )


class ReceiverTLSError(StorageError):
    exit_code = 51
    summary = "mutual TLS with the backup receiver failed"
    hint = (
        "check --tls-ca (the CA of the receiver's certificate), the host name in the receiver's "
        "certificate, and --tls-cert/--tls-key (unexpired, signed by the receiver's --client-ca); "
        "the receiver's log names the reason it refused a client"
    )


class RepositoryError(DbsealError):
    exit_code = 15
    summary = "not a dbseal repository, or its configuration is invalid"
    hint = "create one with `dbseal init REPO`, or check the --repo location"


class BackupNotFound(RepositoryError):
    summary = "no such backup in the repository"
    hint = "list the backups with `dbseal list --repo REPO`"


class AmbiguousLatest(RepositoryError):
    exit_code = 36
    summary = "`latest` is ambiguous: the repository holds good backups of several sources"
    hint = "name the source: NAME:latest or --source NAME (the message lists the choices)"


class RepositoryNeedsAttention(DbsealError):
    """`dbseal repo check` found something to act on; its report says what (not raised)."""

    exit_code = 35
    summary = (
        "repo check: leftovers or orphans to remove, or backups with missing objects "
        "(the storage itself works)"
    )
    hint = (
        "read the report; `dbseal repo check --clean` removes what is old enough, "
        "a backup with missing objects needs another copy of the repository"
    )


class PolicyViolation(DbsealError):
    exit_code = 16
    summary = "the repository's policy refuses this"
    hint = (
        "the policy is in the repository's config.json (set with `dbseal init --policy KEY=VALUE`)"
    )


class IntegrityFailure(DbsealError):
    exit_code = 30
    summary = (
        "verification: the stored backup is damaged, incomplete or does not match its manifest"
    )
    hint = "this backup cannot be trusted; restore from another backup or another copy of the repository"


class DataMismatch(DbsealError):
    exit_code = 31
    summary = "verification: the restored data differs from what was recorded at backup time"
    hint = "see the per-table report (`dbseal verify ... --json`); do not rely on this backup"


class CheckNotRun(DbsealError):
    exit_code = 32
    summary = "verification could not be run (the checker failed, not the backup)"
    hint = (
        "fix the checker (e.g. apt-get install mariadb-server for --level restore) and run it again"
    )


class KeyDestroyed(NoMatchingKey):
    exit_code = 18
    summary = "the key that opens this backup was destroyed (crypto-shredded)"
    hint = "this backup is unrecoverable unless another recipient (e.g. an offline escrow key) can open it"


class LockHeld(DbsealError):
    exit_code = 19
    summary = "the repository is locked by another pruning process"
    hint = (
        "wait for it to finish; the lock of a holder that died is taken over by the next "
        "prune (at once on the same host, after the lock timeout elsewhere; docs/operations.md)"
    )


class LockLost(DbsealError):
    exit_code = 46
    summary = "prune stopped: its repository lock was broken or could not be refreshed"
    hint = (
        "another prune may be running; check `dbseal repo check`, then run forget again "
        "(what was already deleted stays deleted, nothing else was touched)"
    )


class PrunePartial(DbsealError):
    """`dbseal forget` removed what it could; some backups it would remove are still there."""

    exit_code = 44
    summary = (
        "forget/prune: some backups the policy drops could not be deleted (S3 Object Lock "
        "retention, or the store refused); the report lists them"
    )
    hint = (
        "backups under Object Lock are deleted by a later run once their retention date "
        "passes; for a refused delete, check the store's permissions and run forget again"
    )


class SandboxError(DbsealError):
    exit_code = 20
    summary = "a throwaway database server could not be run"
    hint = "install mariadb-server (apt-get install mariadb-server) and check the error log named in the message"


class DatabaseError(DbsealError):
    """The database server could not be reached, refused the login, or dropped the connection."""

    exit_code = 21
    summary = "the database server refused or dropped the connection"
    hint = "check the URL (user, host, port or socket), the password and the account's privileges"


class DatabaseTLSError(DatabaseError):
    exit_code = 22
    summary = "TLS to the database server could not be set up or verified"
    hint = (
        "check --ssl-ca and the name in the server's certificate; a remote server needs TLS "
        "(--allow-insecure-remote turns that off, which is not recommended)"
    )


class DumpToolError(DbsealError):
    """The dump or restore client program is missing, unusable or not acceptable."""

    exit_code = 23
    summary = "the dump or restore client program is missing or unusable"
    hint = "install the MariaDB or MySQL client programs (apt-get install mariadb-client)"


class ClientTooOld(DumpToolError):
    exit_code = 24
    summary = "the dump client is older than the database server"
    hint = "install a client at least as new as the server, or set the policy client_older=warn"


class DumpFailed(DbsealError):
    exit_code = 25
    summary = "the database dump failed or is incomplete"
    hint = "read the dump tool's messages in the backup log; fix the cause and run the backup again"


class RestoreFailed(DbsealError):
    exit_code = 26
    summary = "the restore into the database server failed"
    hint = (
        "the message names the first statement the server refused and what happened to the target"
    )


class TargetNotEmpty(DbsealError):
    """A restore would write into a database that exists and holds objects."""

    exit_code = 27
    summary = "a database the restore would write into already exists and is not empty"
    hint = (
        "restore a copy under another name with --rename-db OLD=NEW, or pass --replace to "
        "DESTROY the database's current contents and replace them with the backup's"
    )


class IncompleteRestoreFound(DbsealError):
    """An earlier restore into the target stopped without cleaning up (``kill -9``, a crash)."""

    exit_code = 43
    summary = "a target database was left by an incomplete restore"
    hint = (
        "rerun the restore with --replace: it removes what the incomplete restore left "
        "and restores the backup in full"
    )


class OldReferences(DbsealError):
    exit_code = 39
    summary = "a renamed restore would leave objects that still name a renamed database"
    hint = (
        "fix those objects in the source (or after the restore), or pass --allow-old-references "
        "to restore them as they are"
    )


class AccountsNotRestored(RestoreFailed):
    exit_code = 37
    summary = "restore: the databases were restored, but some of the backup's accounts were not"
    hint = "the message names the first statement the target refused; create those accounts by hand"


class KmsError(DbsealError):
    exit_code = 40
    summary = "AWS KMS could not be reached or refused to wrap or unwrap a data key"
    hint = "the message says what KMS answered and for which key; check the key, region, credentials and network access to KMS"


class HookFailed(DbsealError):
    """A ``before`` hook (dbseal.toml ``[hooks.COMMAND]``) failed or timed out."""

    exit_code = 38
    summary = "a before hook failed or timed out: the command did not start, no data moved"
    hint = "fix the hook named in the message (its output is above, or in the event log) and rerun"


class HookAfterFailed(DbsealError):
    """An ``after`` hook failed; the command itself succeeded (a backup stays good)."""

    exit_code = 41
    summary = "the command succeeded, but its after hook failed or timed out"
    hint = (
        "the backup (or verify, forget) itself is complete and recorded; fix the after hook "
        "named in the message and run it again by hand"
    )


class Interrupted(DbsealError):
    exit_code = 130
    summary = "interrupted"
    hint = "nothing half-written was left looking complete; run the command again"


class ChecksWarning(DbsealError):
    """`dbseal check`: no check failed, but at least one is a WARNING."""

    exit_code = 33
    summary = (
        "check: some check is a WARNING (a backup or verification getting old, a failed "
        "backup, a key due for rotation, leftovers in the repository); the report says which"
    )
    hint = "read the report's WARNING rows and fix them before they become CRITICAL"


class ChecksCritical(DbsealError):
    """`dbseal check`: at least one check is CRITICAL, or could not be evaluated (UNKNOWN)."""

    exit_code = 34
    summary = (
        "check: some check is CRITICAL (no recent good backup, a failed verification, restore "
        "over the RTO, no escrow) or UNKNOWN (repository unreachable, no result in time)"
    )
    hint = "read the report's CRITICAL and UNKNOWN rows; `dbseal check --json` has the details"


class RunLocked(DbsealError):
    """Another run of the same command for the same source holds its run lock."""

    exit_code = 42
    summary = "another backup of the same source is still running (its run lock is held)"
    hint = (
        "let it finish, or pass --wait-lock DURATION to wait for it; a holder that died "
        'releases the lock at once (docs/operations.md, "Run lock")'
    )


class ScheduleError(DbsealError):
    """`dbseal schedule`: a unit or cron file is in the way, or systemctl failed."""

    exit_code = 47
    summary = (
        "schedule: a unit or cron file differs from what dbseal would write, was not "
        "written by dbseal, or systemctl failed"
    )
    hint = (
        "compare with `dbseal schedule show`; pass --force to replace a file dbseal wrote, "
        "remove files it did not write yourself"
    )


class ReportPdfUnavailable(DbsealError):
    exit_code = 56
    summary = "the report's PDF could not be made: headless Chromium is missing or failed"
    hint = "install Chromium (Debian: apt-get install chromium), or write the HTML report only (-o) and print it from a browser"


class ReportExtraMissing(DbsealError):
    exit_code = 57
    summary = "`dbseal report` needs the optional report extra (Jinja2, matplotlib)"
    hint = "install it: pip install 'dbseal[report]' (or jinja2 and matplotlib into dbseal's environment)"


# -- physical backups (mariadb-backup) and backup chains -------------------------------------


class PhysicalNeedsLocalServer(UsageError):
    """mariadb-backup copies the datadir itself: it must run on the database host."""

    exit_code = 48
    summary = "a physical backup must run on the database host (it reads the datadir itself)"
    hint = (
        "run dbseal on the database host (a local socket or 127.0.0.1) and send the backup to a "
        "remote repository (s3://, a dbseal+tls:// receiver); or use --method logical from here"
    )


class BackupToolMismatch(DumpToolError):
    exit_code = 52
    summary = "mariadb-backup is missing or its version does not match the server's major.minor"
    hint = (
        "install the mariadb-backup package of the server's own version "
        "(apt-get install mariadb-backup on the database host)"
    )


class MissingPrivileges(DatabaseError):
    exit_code = 53
    summary = "the database account lacks a privilege this backup method needs"
    hint = (
        "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO the backup account "
        "(REPLICATION CLIENT instead of BINLOG MONITOR before MariaDB 10.5)"
    )


class ChainBroken(RepositoryError):
    """An incremental backup's chain (full, inc1, ...) has a member missing, failed or not
    following its parent (an LSN gap)."""

    exit_code = 54
    summary = "an incremental backup's chain is broken: a member is missing, failed or does not follow its parent"
    hint = (
        "restore an older backup whose chain is whole (`dbseal list` marks those that are "
        "not restorable), and take a new full backup: --method physical without --incremental"
    )


class ScratchUnusable(OutputError):
    exit_code = 55
    summary = "the scratch directory for the backup tool's metadata is not writable or has no room"
    hint = (
        "pass --scratch-dir DIR on a writable file system with free space (the default is $TMPDIR)"
    )


# -- physical restore (restore --datadir, verify of physical backups, key material) ----------


class DatadirInUse(DbsealError):
    """A physical restore's target datadir is used by a running server."""

    exit_code = 58
    summary = "the target datadir is used by a running database server"
    hint = (
        "stop that server first, or restore into another, new directory (--datadir DIR) and "
        "point the server at it afterwards"
    )


class PrepareFailed(DbsealError):
    """mbstream could not extract, or mariadb-backup --prepare failed (full or incremental)."""

    exit_code = 59
    summary = "the physical backup could not be extracted or prepared"
    hint = (
        "the message quotes mariadb-backup; nothing was written into the datadir. Check the "
        "tool's version (same major.minor as the backed-up server), free space and "
        "--prepare-memory, then run the restore again"
    )


class KeyMaterialMissing(DbsealError):
    """An encrypted server's key file is needed and not available (backup or restore)."""

    exit_code = 60
    summary = "the key file of the server's data-at-rest encryption is missing or unreadable"
    hint = (
        "at backup: run dbseal as a user that can read the key file (root or the server's "
        "user), or pass --no-key-material; at restore: pass --key-file FILE (the "
        "file_key_management key file the server used)"
    )


class KeyFileConflict(DbsealError):
    """Restoring the key file would overwrite a different file."""

    exit_code = 61
    summary = "a different file already exists where the restore would write the key file"
    hint = (
        "pass --key-dir DIR (a directory for the restored key files; the restore prints "
        "the my.cnf lines that name them), or move the existing file away"
    )


class BinlogGap(RepositoryError):
    exit_code = 62
    summary = (
        "the archived binary logs have a gap (RESET MASTER, a renamed log base, logs purged "
        "before they were archived): no point-in-time recovery across it"
    )
    hint = (
        "see `dbseal binlog status`; recover to a point before the gap, or take a new base "
        "backup after it (recovery after that backup works again)"
    )


class PitrTargetUnavailable(UsageError):
    exit_code = 63
    summary = "the recovery target is not covered by the archived binary logs (in the future, not archived yet, or before the base backup)"
    hint = (
        "check `dbseal binlog status` (archived up to) and `dbseal restore ... --dry-run`; "
        "run `dbseal binlog archive SOURCE --once` to archive what the server has now"
    )


class BinlogArchiveError(DatabaseError):
    exit_code = 64
    summary = "reading the server's binary logs failed (binlog off, no REPLICATION SLAVE grant, server unreachable, mariadb-binlog failed)"
    hint = (
        "the server needs log_bin, and the archiving account REPLICATION SLAVE and "
        "BINLOG MONITOR (or REPLICATION CLIENT); the next run resumes where this one stopped"
    )


class NoPitrBase(RepositoryError):
    exit_code = 65
    summary = "no good base backup with recorded binary-log coordinates before the recovery target"
    hint = (
        "take a backup of the source while its binary logs are archived (`dbseal backup`, "
        "then `dbseal binlog archive`); backups taken without a shared snapshot record no "
        "coordinates"
    )


# -- the PostgreSQL engine (engines/postgresql/) ---------------------------------------------


class PgClientTooOld(ClientTooOld):
    """pg_dump refuses a server of a newer major version: said before anything starts."""

    exit_code = 66
    summary = "pg_dump is older than the PostgreSQL server's major version (it cannot dump it)"
    hint = (
        "install the client tools of the server's major version (postgresql-client-N) "
        "or set DBSEAL_PG_BINDIR to their bin directory"
    )


def all_error_classes() -> list[type[DbsealError]]:
    """Every class in the tree, parents before children, in definition order."""
    out: list[type[DbsealError]] = []

    def walk(cls: type[DbsealError]) -> None:
        out.append(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(DbsealError)
    return out


def exit_code_table() -> str:
    """The Markdown exit-code table of docs/errors.md."""
    lines = [
        "| exit code | error | meaning | what to do |",
        "|---|---|---|---|",
        "| 0 | | success | |",
    ]
    for cls in sorted(all_error_classes(), key=lambda c: c.exit_code):
        lines.append(f"| {cls.exit_code} | `{cls.__name__}` | {cls.summary} | {cls.hint} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - doc generator
    print(exit_code_table(), end="")
