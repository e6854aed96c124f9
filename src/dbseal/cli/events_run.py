"""One command run, observed: events, event log, syslog, hooks and pings (docs/events.md).

Order: ``command.start``; the start ping; the hooks' programs checked; the ``before``
hook (its failure: HookFailed, nothing else runs); the command; on success the
``after`` hook (its failure: HookAfterFailed, the command's work stays done); on any
failure the ``on_error`` hook (its own failure is only reported); ``command.end``; the
syslog line; the success or failure ping. Nothing here fails a command except the
hooks and a broken dbseal.toml; the log, syslog and pings only warn.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Callable
from typing import Any

from dbseal.cli.config import find_config, load_config
from dbseal.cli.durations import parse_duration
from dbseal.errors import (
    DbsealError,
    HookAfterFailed,
    HookFailed,
    Interrupted,
    OutputError,
    all_error_classes,
)
from dbseal.monitoring.eventlog import AppendFile, EventRecorder
from dbseal.monitoring.redact import redact_text, url_without_credentials
from dbseal.monitoring.sizes import human_size
from dbseal.monitoring.textevents import TextEventsReporter
from dbseal.ops.hooks import Hook, HookFacts, executable, run_hook

HOOKED = ("backup", "verify", "forget")
_HOOK_LOG_LINES = 200


def command_name(args: argparse.Namespace) -> str:
    name = str(getattr(args, "command", "") or "")
    sub = getattr(args, f"{name}_command", None)
    return f"{name} {sub}" if sub else name


def as_error(exc: BaseException) -> DbsealError:
    """The error main() reports for ``exc`` (the same class and exit code)."""
    if isinstance(exc, DbsealError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted by the user")
    if isinstance(exc, BrokenPipeError):
        return OutputError("the reader of standard output went away")
    return DbsealError(f"internal error {type(exc).__name__}: {exc}")


def class_for_exit(code: int) -> str:
    """A command that returned ``code`` without raising: the error class that code stands for."""
    for cls in all_error_classes():
        if cls.exit_code == code:
            return cls.__name__
    return "DbsealError"


def _resolve_log_paths(config: dict[str, Any], path: str | None) -> None:
    """[log] paths relative to dbseal.toml's directory, like the file's other paths."""
    import os

    log = config.get("log", {})
    for key in ("json", "syslog_socket"):
        if path and log.get(key) and not os.path.isabs(log[key]):
            log[key] = os.path.join(os.path.dirname(os.path.abspath(path)), log[key])


def _url_source(url: str | None) -> str:
    """The source name a backup of ``url`` gets (``HOST:PORT/DB,...``), before it ran."""
    if not url:
        return ""
    import urllib.parse

    from dbseal.catalog.source_names import derive_source_name

    try:
        parts = urllib.parse.urlsplit(url)
        dbs = [d for d in parts.path.strip("/").split(",") if d]
        return derive_source_name({"host": parts.hostname, "port": parts.port, "databases": dbs})
    except ValueError:
        return ""


class CommandRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.command = command_name(args)
        self.quiet = bool(getattr(args, "quiet", False))
        self.recorder = EventRecorder(self.command)
        self.config: dict[str, Any] = {}
        self.config_error: DbsealError | None = None
        if hasattr(args, "config"):  # commands that read dbseal.toml anyway
            try:
                path = find_config(args.config)
                self.config = load_config(path) if path else {}
                _resolve_log_paths(self.config, path)
            except DbsealError as exc:
                self.config_error = exc  # raised inside the observed run: logged as its failure
        log = self.config.get("log", {})
        self.console = None
        if args.verbose and not self.quiet and not getattr(args, "json", False):
            self.console = TextEventsReporter(sys.stderr, args.verbose)
        self.logfile = self._open_log(getattr(args, "log_json", None) or log.get("json"))
        self.syslog = bool(getattr(args, "syslog", False) or log.get("syslog"))
        self.syslog_socket: str | None = log.get("syslog_socket")
        self.source = self._source()
        self.hooks = self._hooks()
        self.hooks_checked = False
        self.pinger = self._pinger()
        args.events = self.recorder  # make_reporter() adds it to the command's reporter

    # -- set-up ------------------------------------------------------------------------

    def _open_log(self, path: str | None) -> AppendFile | None:
        if not path:
            return None
        try:
            logfile = AppendFile(path)
        except OSError as exc:
            print(
                f"dbseal: warning: cannot write the event log {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return None
        self.recorder.sinks.append(lambda _record, line: logfile.write(line))
        return logfile

    def _source(self) -> str:
        if self.command == "backup":
            name = getattr(self.args, "name", None)
            return str(name) if name else _url_source(getattr(self.args, "source", None))
        return str(getattr(self.args, "source_name", None) or "")

    def _hooks(self) -> dict[str, Hook]:
        table = self.config.get("hooks", {}).get(self.command) if self.command in HOOKED else None
        if not table:
            return {}
        timeout = parse_duration(table.get("timeout", "5m")).total_seconds()
        return {
            when: Hook(self.command, when, table[when], bool(table.get("shell")), timeout)
            for when in ("before", "after", "on_error")
            if table.get(when) is not None
        }

    def _pinger(self) -> Any:
        if self.command not in HOOKED:
            return None
        named = getattr(self.args, "name", None) or getattr(self.args, "source_name", None)
        table = self.config.get("sources", {}).get(named, {}).get("ping") if named else None
        table = table or self.config.get("ping")
        if not table:
            return None
        from dbseal.monitoring.pings import Pinger

        timeout = parse_duration(table.get("timeout", "10s")).total_seconds()

        def warn(which: str, problem: str) -> None:
            self.own("ping.failed", status="warning", ping=which, host=pinger.host, error=problem)
            self._warn(f"ping {which} to {pinger.host} failed: {problem} (the command goes on)")

        pinger = Pinger(table["url"], timeout, int(table.get("retries", 2)), warn)
        return pinger

    # -- events --------------------------------------------------------------------------

    def own(self, kind: str, **fields: Any) -> None:
        """An event of the run itself: to the recorder (log, tail) and the -v console."""
        self.recorder.event(kind, **fields)  # its file sink never raises (AppendFile.write)
        if self.console is not None and kind != "hook.output":
            if kind == "command.end":  # the error itself is main()'s one line, just after
                fields = {k: v for k, v in fields.items() if k not in ("error", "hint")}
            self.console.event(kind, **fields)

    def _warn(self, text: str) -> None:
        if not self.quiet:
            print(f"dbseal: warning: {text}", file=sys.stderr, flush=True)

    def facts(self, exit_code: int | None = None, err: DbsealError | None = None) -> HookFacts:
        repo = getattr(self.args, "repo", None) or self.config.get("repository") or ""
        return HookFacts(
            command=self.command,
            source=self.recorder.source or self.source,
            backup_id=",".join(self.recorder.backup_ids),
            exit_code=exit_code,
            error=redact_text(err.message) if err is not None else "",
            error_class=type(err).__name__ if err is not None else "",
            repo=url_without_credentials(str(repo)),
        )

    # -- the run -------------------------------------------------------------------------

    def execute(self, func: Callable[[argparse.Namespace], int]) -> int:
        t0 = time.monotonic()
        self.own("command.start", source=self.source or None)
        try:
            if self.config_error is not None:
                raise self.config_error
            if self.pinger is not None:
                self.pinger.start()
            for hook in self.hooks.values():
                executable(hook)  # all of them, before any runs
            self.hooks_checked = True
            self._before()
            rc = func(self.args)
        except BaseException as exc:
            err = as_error(exc)
            self._on_error(err.exit_code, err)
            self._finish(t0, err.exit_code, err)
            raise
        if rc:
            err = DbsealError(f"exit status {rc}")
            name = class_for_exit(rc)
            self._on_error(rc, err, name)
            self._finish(t0, rc, err, name)
            return rc
        try:
            self._after()
        except HookAfterFailed as exc:
            self._finish(t0, exc.exit_code, exc)
            raise
        self._finish(t0, 0, None)
        return 0

    def _run(self, when: str, facts: HookFacts) -> tuple[Hook, Any, Any] | None:
        hook = self.hooks.get(when)
        if (
            hook is None or not self.hooks_checked
        ):  # an untrusted hook never runs, not even on_error
            return None
        lines: collections.deque[str] = collections.deque(maxlen=_HOOK_LOG_LINES)
        count = 0

        def on_line(line: str) -> None:
            nonlocal count
            line = redact_text(line)
            lines.append(line)  # with -q, the last lines are shown when the hook failed
            count += 1
            if count <= _HOOK_LOG_LINES:
                self.own("hook.output", hook=hook.name, line=line)
            if not self.quiet:
                print(f"dbseal: hook {hook.name}: {line}", file=sys.stderr, flush=True)

        self.own("hook.start", hook=hook.name)
        result = run_hook(hook, facts, on_line)
        self.own(
            "hook.end",
            hook=hook.name,
            status="ok" if result.ok else "failed",
            duration_s=result.duration_s,
            exit_code=result.exit_code,
            error=result.problem or None,
        )
        if not result.ok and self.quiet:  # -q: a failing hook's output is shown after all
            for line in lines:
                print(f"dbseal: hook {hook.name}: {line}", file=sys.stderr)
        return hook, result, lines

    def _before(self) -> None:
        ran = self._run("before", self.facts())
        if ran is not None and not ran[1].ok:
            hook, result, _ = ran
            raise HookFailed(
                f"hook {hook.name} failed ({result.problem}): the {self.command} did not start"
            )

    def _after(self) -> None:
        ran = self._run("after", self.facts(0))
        if ran is not None and not ran[1].ok:
            hook, result, _ = ran
            raise HookAfterFailed(
                f"the {self.command} succeeded, but hook {hook.name} failed ({result.problem})"
            )

    def _on_error(self, code: int, err: DbsealError, name: str | None = None) -> None:
        facts = self.facts(code, err)
        if name is not None:
            facts.error_class = name
        try:
            ran = self._run("on_error", facts)
        except Exception as exc:  # its own failure never masks the command's
            self._warn(f"hook {self.command}.on_error could not run: {exc}")
            return
        if ran is not None and not ran[1].ok:
            self._warn(f"hook {ran[0].name} failed ({ran[1].problem}); exit status stays {code}")

    def _finish(
        self, t0: float, code: int, err: DbsealError | None, name: str | None = None
    ) -> None:
        duration = round(time.monotonic() - t0, 3)
        rec = self.recorder
        failed = code != 0
        cls = name or (type(err).__name__ if err is not None else None)
        self.own(
            "command.end",
            status="failed" if failed else "ok",
            exit_code=code,
            duration_s=duration,
            source=(rec.source or self.source) or None,
            backup_id=",".join(rec.backup_ids) or None,
            bytes=rec.summary_bytes,
            error_class=cls if failed else None,
            error=err.message if failed and err is not None else None,
            hint=err.hint if failed and err is not None and name is None else None,
        )
        try:
            self._tell(self._summary(duration, code, cls, err), failed)
        finally:
            if self.logfile is not None:
                self.logfile.close()
                if self.logfile.problem:
                    self._warn(f"event log {self.logfile.path}: lines lost: {self.logfile.problem}")

    def _tell(self, summary: str, failed: bool) -> None:
        """Syslog and the end ping; their problems are warnings, never the command's."""
        rec = self.recorder
        if self.syslog:
            from dbseal.monitoring.syslog import send_summary

            problem = send_summary(summary, failed, self.syslog_socket)
            if problem:
                self.own("syslog.failed", status="warning", error=problem)
                self._warn(f"no syslog line sent: {problem}")
        if self.pinger is not None:
            body = summary if not failed else "".join(rec.tail)
            self.pinger.finish(not failed, body)

    def _summary(self, duration: float, code: int, cls: str | None, err: DbsealError | None) -> str:
        """``backup shop ok 12.3 MiB in 4.1 s id=...`` or ``... failed (exit 25, DumpFailed): ...``"""
        rec = self.recorder
        head = f"{self.command} {rec.source or self.source or '-'}"
        ids = f" id={','.join(rec.backup_ids)}" if rec.backup_ids else ""
        if code == 0:
            size = f" {human_size(rec.summary_bytes)}" if rec.summary_bytes else ""
            return f"{head} ok{size} in {duration:.1f} s{ids}"
        message = redact_text(err.message) if err is not None else ""
        return f"{head} failed (exit {code}, {cls}) in {duration:.1f} s{ids}: {message}"


def run_observed(args: argparse.Namespace, func: Callable[[argparse.Namespace], int]) -> int:
    return CommandRun(args).execute(func)
