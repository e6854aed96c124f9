"""Hooks: programs dbseal.toml names to run before, after or on a failure of a command.

Semantics (docs/events.md, "Hooks"): run without a shell (an argv list) unless the
table says ``shell = true``; placeholders ``{source}``, ``{backup_id}``,
``{exit_code}``, ``{error}``, ``{error_class}``, ``{command}``, ``{repo}`` are replaced
in each argument (shell-quoted in a shell string); the same facts are in ``DBSEAL_*``
environment variables. The hook's environment is dbseal's without its ``DBSEAL_*``
(except ``DBSEAL_CONFIG``) and ``MYSQL_PWD``. A hook runs in its own process group, its
standard output and error go line by line to ``on_line``; at its timeout the whole
group gets SIGTERM, and SIGKILL two seconds later.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from dbseal.config.trust import check_trusted_file
from dbseal.errors import HookFailed

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEEP_ENV = ("DBSEAL_CONFIG",)
_DROP_ENV = ("MYSQL_PWD",)
_GRACE_S = 2.0
SHELL = "/bin/sh"


@dataclasses.dataclass
class HookFacts:
    """What a hook is told about the command (never a secret)."""

    command: str
    source: str = ""
    backup_id: str = ""
    exit_code: int | None = None
    error: str = ""
    error_class: str = ""
    repo: str = ""

    def values(self) -> dict[str, str]:
        out = {k: "" if v is None else str(v) for k, v in dataclasses.asdict(self).items()}
        return out

    def environment(self, hook: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if (not k.startswith("DBSEAL_") or k in _KEEP_ENV) and k not in _DROP_ENV
        }
        v = self.values()
        env.update(
            {
                "DBSEAL_HOOK": hook,
                "DBSEAL_COMMAND": v["command"],
                "DBSEAL_SOURCE": v["source"],
                "DBSEAL_BACKUP_ID": v["backup_id"],
                "DBSEAL_EXIT_CODE": v["exit_code"],
                "DBSEAL_ERROR": v["error"],
                "DBSEAL_ERROR_CLASS": v["error_class"],
                "DBSEAL_REPO": v["repo"],
            }
        )
        return env


@dataclasses.dataclass(frozen=True)
class Hook:
    command: str  # backup, verify, forget
    when: str  # before, after, on_error
    cmd: str | list[str]
    shell: bool
    timeout_s: float

    @property
    def name(self) -> str:
        return f"{self.command}.{self.when}"

    def argv(self, facts: HookFacts) -> list[str]:
        values = facts.values()
        if self.shell:
            assert isinstance(self.cmd, str)
            text = _PLACEHOLDER.sub(lambda m: shlex.quote(values.get(m[1], m[0])), self.cmd)
            return [SHELL, "-c", text]
        assert isinstance(self.cmd, list)
        return [_PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), part) for part in self.cmd]


@dataclasses.dataclass
class HookResult:
    ok: bool
    problem: str  # "" when ok: "exit status 3", "timed out after 5 s", "cannot run ...: ..."
    duration_s: float
    exit_code: int | None = None


def executable(hook: Hook) -> str:
    """The program a hook runs, found in PATH and checked like dbseal.toml itself: owned by
    root or the user and writable by nobody else, nor its directories (ConfigPermissions);
    HookFailed when there is no such program."""
    program = SHELL if hook.shell else str(hook.cmd[0])
    found = shutil.which(program) if os.sep not in program else program
    if found is None or not os.path.isfile(found):
        raise HookFailed(
            f"hook {hook.name}: no program {program!r} (not found"
            + ("" if os.sep in program else " in PATH")
            + ")",
            hint=f"fix [hooks.{hook.command}] {hook.when} in dbseal.toml",
        )
    check_trusted_file(found, f"hook program (hooks.{hook.command}.{hook.when})")
    return found


def run_hook(hook: Hook, facts: HookFacts, on_line: Callable[[str], None]) -> HookResult:
    """Run ``hook`` to its end or its timeout; never raises for the hook's own failure."""
    t0 = time.monotonic()
    argv = hook.argv(facts)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=facts.environment(hook.when),
            start_new_session=True,  # its own process group: a timeout kills all of it
            close_fds=True,
        )
    except OSError as exc:
        return HookResult(False, f"cannot run {argv[0]}: {exc.strerror or exc}", 0.0)
    reader = threading.Thread(target=_pump, args=(proc, on_line), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=hook.timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        reader.join(1.0)
        took = round(time.monotonic() - t0, 3)
        return HookResult(False, f"timed out after {hook.timeout_s:g} s (killed)", took)
    finally:
        if proc.poll() is None:  # interrupted while waiting: do not leave it running
            _kill_group(proc)
    reader.join(1.0)  # a background child still holding the pipe does not hold dbseal
    took = round(time.monotonic() - t0, 3)
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return HookResult(False, how, took, code)
    return HookResult(True, "", took, 0)


def _pump(proc: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                # the leader is gone; the rest of the group may not be
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
