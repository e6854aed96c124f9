"""What one source's schedule runs: the jobs, their secrets, and the exact command lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dbseal.errors import UsageError
from dbseal.schedule.escape import check_text

KINDS = ("backup", "verify", "forget")
MARKER = "# dbseal-schedule:"  # first line of every file dbseal writes (remove checks it)


@dataclass(frozen=True)
class Credential:
    """A secret file passed to the job: LoadCredential=NAME:PATH under systemd, the path
    itself under cron. Only the path appears anywhere, never the secret."""

    name: str  # the credential's id (a file name in $CREDENTIALS_DIRECTORY)
    path: str  # where the secret lives on the host
    flag: str  # the dbseal option that reads it
    kinds: tuple[str, ...]  # the jobs that need it


# option of `dbseal schedule install` -> (credential id, dbseal option, jobs)
CREDENTIAL_OPTIONS = {
    "passphrase_file": ("passphrase", "--passphrase-file", ("backup", "verify")),
    "keyring_passphrase_file": (
        "keyring-passphrase",
        "--keyring-passphrase-file",
        ("backup", "verify"),
    ),
    "identity": ("identity", "-i", ("backup", "verify")),
    "password_file": ("db-password", "--password-file", ("backup",)),
}


@dataclass(frozen=True)
class ScheduleSpec:
    source: str
    config: str  # absolute path of the dbseal.toml the jobs use
    dbseal: str  # absolute path of the dbseal executable
    jobs: dict[str, str]  # kind -> keyword or calendar expression
    user: str = "root"
    prune: bool = False
    verify_level: str | None = None
    randomized_delay: str = "30m"
    credentials: tuple[Credential, ...] = ()
    rw_paths: tuple[str, ...] = ()
    mailto: str | None = None

    def __post_init__(self) -> None:
        check_text(self.source, "source name")
        if self.source.startswith("-") or not self.source:
            raise UsageError(
                f"source name {self.source!r} cannot be scheduled", hint="rename the source"
            )
        if not self.jobs:
            raise UsageError(
                "nothing to schedule", hint="give at least one of --backup, --verify, --forget"
            )
        for path in (self.config, self.dbseal, *self.rw_paths):
            check_text(path, "path")
        if not self.user or not all(c.isalnum() or c in "._-" for c in self.user):
            raise UsageError(f"--user {self.user!r} is not a user name")


Word = tuple[str, bool]  # (text, True: a literal argument / False: already in unit syntax)


def argv(spec: ScheduleSpec, kind: str, cred_word: Callable[[Credential], Word]) -> list[Word]:
    """The job's command line: `dbseal <kind> ... -q --config FILE` and its secret files."""
    words: list[str]
    if kind == "backup":
        words = ["backup", spec.source]
    elif kind == "verify":
        words = ["verify", "--source", spec.source]
        if spec.verify_level:
            words += ["--level", spec.verify_level]
    else:
        words = ["forget", "--source", spec.source] + (["--prune"] if spec.prune else [])
    out: list[Word] = [(spec.dbseal, True)] + [(w, True) for w in words]
    out += [("-q", True), ("--config", True), (spec.config, True)]
    for cred in spec.credentials:
        if kind in cred.kinds:
            out += [(cred.flag, True), cred_word(cred)]
    return out
