"""`dbseal schedule install|show|remove`: units or a cron file for one source."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

from dbseal.cli.durations import parse_duration
from dbseal.cli.output import emit
from dbseal.config.loader import find_config, load_config
from dbseal.crypto.secret import check_private_file
from dbseal.errors import ScheduleError, UsageError
from dbseal.schedule import files, systemd
from dbseal.schedule.cron import cron_file
from dbseal.schedule.escape import cron_name
from dbseal.schedule.spec import CREDENTIAL_OPTIONS, KINDS, Credential, ScheduleSpec
from dbseal.schedule.systemd import UnitFile

DEFAULT_CONFIG = "/etc/dbseal/dbseal.toml"


def _dbseal_path(given: str | None) -> str:
    if given:
        if not os.path.isabs(given) or not os.access(given, os.X_OK):
            raise UsageError(f"--dbseal {given!r} is not an absolute path to an executable")
        return given
    here = os.path.join(os.path.dirname(sys.executable), "dbseal")
    found = here if os.access(here, os.X_OK) else shutil.which("dbseal")
    if not found:
        raise UsageError("cannot find the dbseal executable", hint="pass --dbseal /path/to/dbseal")
    return os.path.abspath(found)


def _local_path(repo: str) -> str | None:
    if repo.startswith("file://"):
        return repo[len("file://") :]
    return None if "://" in repo else repo


def _config(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    path = os.path.abspath(args.config or find_config(None) or DEFAULT_CONFIG)
    if not os.path.exists(path):
        raise UsageError(
            f"config file {path} does not exist", hint="pass --config FILE (the jobs read it)"
        )
    doc = load_config(path)  # trusted and valid, or ConfigError
    if args.source not in doc.get("sources", {}):
        known = ", ".join(sorted(doc.get("sources", {}))) or "none"
        raise UsageError(
            f"no source {args.source!r} in {path} (known: {known})",
            hint="add a [sources.NAME] table first",
        )
    return path, doc


def _writable(args: argparse.Namespace, config: str, doc: dict[str, Any]) -> tuple[str, ...]:
    out = [os.path.abspath(p) for p in args.rw_path or []]
    repo = _local_path(str(doc.get("repository", "")))
    if repo:
        out.append(repo)
    state = doc.get("state", {}).get("dir")
    if state:
        out.append(os.path.join(os.path.dirname(config), state))
    return tuple(dict.fromkeys(out))


def _credentials(args: argparse.Namespace, kinds: list[str]) -> tuple[Credential, ...]:
    out = []
    for option, (name, flag, used_by) in CREDENTIAL_OPTIONS.items():
        path = getattr(args, option, None)
        if not path or not set(used_by) & set(kinds):
            continue
        path = os.path.abspath(path)
        check_private_file(path, f"--{option.replace('_', '-')}")
        out.append(Credential(name, path, flag, used_by))
    return tuple(out)


def build_spec(args: argparse.Namespace) -> ScheduleSpec:
    jobs = {k: getattr(args, k) for k in KINDS if getattr(args, k, None)}
    if not jobs:
        raise UsageError(
            "nothing to schedule", hint="give at least one of --backup, --verify, --forget WHEN"
        )
    if args.randomized_delay != "0":
        parse_duration(args.randomized_delay)
    config, doc = _config(args)
    return ScheduleSpec(
        source=args.source,
        config=config,
        dbseal=_dbseal_path(args.dbseal),
        jobs=jobs,
        user=args.user,
        prune=args.prune,
        verify_level=args.verify_level,
        randomized_delay=args.randomized_delay,
        credentials=_credentials(args, list(jobs)),
        rw_paths=_writable(args, config, doc),
        mailto=args.mailto,
    )


def _render(args: argparse.Namespace, spec: ScheduleSpec) -> tuple[str, list[UnitFile]]:
    if args.cron:
        return args.cron_dir, [cron_file(spec)]
    return args.unit_dir, systemd.units(spec)


def _next(args: argparse.Namespace, spec: ScheduleSpec) -> list[str]:
    if args.cron:
        return []  # cron reads /etc/cron.d by itself
    timers = " ".join(shlex.quote(t) for t in systemd.timer_names(spec))
    return ["systemctl daemon-reload", f"systemctl enable --now {timers}"]


def _doc(spec: ScheduleSpec, directory: str, out: list[dict[str, str]], nxt: list[str]) -> Any:
    return {"source": spec.source, "directory": directory, "files": out, "next": nxt}


def cmd_schedule_show(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    directory, rendered = _render(args, spec)
    docs = [
        {"name": f.name, "path": os.path.join(directory, f.name), "text": f.text} for f in rendered
    ]
    text = "\n".join(f"# {d['path']}\n{d['text']}" for d in docs).rstrip("\n")
    emit(args, _doc(spec, directory, docs, _next(args, spec)), text)
    return 0


def _systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")


def _systemctl(*argv: str) -> None:
    try:
        proc = subprocess.run(["systemctl", *argv], capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScheduleError(f"cannot run systemctl {argv[0]}: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = err[-1] if err else f"exit status {proc.returncode}"
        raise ScheduleError(f"systemctl {' '.join(argv)} failed: {detail}")


def _left_over(args: argparse.Namespace, spec: ScheduleSpec) -> list[str]:
    """Units of jobs not asked for this time that an earlier install wrote (kept)."""
    if args.cron:
        return []
    out = []
    for kind in KINDS:
        if kind in spec.jobs:
            continue
        for ext in (".service", ".timer"):
            path = os.path.join(args.unit_dir, systemd.unit_base(kind, spec.source) + ext)
            if os.path.exists(path) and files.ours(files.read(path) or ""):
                out.append(path)
    return out


def cmd_schedule_install(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    directory, rendered = _render(args, spec)
    if not os.path.isdir(directory):
        raise ScheduleError(f"{directory} is not a directory", hint="create it or pass another")
    planned = files.plan(directory, rendered, args.force)
    nxt = _next(args, spec)
    if not args.dry_run:
        files.apply(planned)
    verb = "would " if args.dry_run else ""
    lines = [f"{verb}{p.action} {p.path}" for p in planned]
    left = _left_over(args, spec)
    lines += [
        f"note: {path} (an earlier install) stays; `dbseal schedule remove {spec.source}` "
        "removes every job of the source"
        for path in left
    ]
    lines += [
        f"note: {path} does not exist yet: create it before the first run "
        "(systemd refuses to start a unit whose ReadWritePaths= is missing)"
        for path in spec.rw_paths
        if not args.cron and not os.path.exists(path)
    ]
    if args.enable and not args.dry_run and not args.cron:
        if not _systemd_running():
            raise ScheduleError(
                "the files are written, but systemd is not running here, so --enable cannot "
                "enable the timers",
                hint="on the target host run: " + " && ".join(nxt),
            )
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", *systemd.timer_names(spec))
        lines.append("enabled: " + " ".join(systemd.timer_names(spec)))
    elif nxt:
        lines.append("next: " + " && ".join(nxt))
    out = [{"path": p.path, "action": p.action} for p in planned]
    doc = _doc(spec, directory, out, nxt) | {"dry_run": args.dry_run, "left_over": left}
    emit(args, doc, "\n".join(lines))
    return 0


def cmd_schedule_remove(args: argparse.Namespace) -> int:
    if args.cron:
        directory, names = args.cron_dir, [cron_name(args.source)]
    else:
        directory = args.unit_dir
        bases = [systemd.unit_base(k, args.source) for k in KINDS]
        names = [b + ext for b in bases for ext in (".timer", ".service")]
        if args.disable and _systemd_running():
            present = [n for n in names if n.endswith(".timer")]
            present = [n for n in present if os.path.exists(os.path.join(directory, n))]
            if present:
                _systemctl("disable", "--now", *present)
    removed = files.remove(directory, names)
    nxt = [] if args.cron or not removed else ["systemctl daemon-reload"]
    lines = [f"removed {p}" for p in removed] or [f"nothing to remove for {args.source!r}"]
    if nxt:
        lines.append("next: " + " && ".join(nxt))
    emit(args, {"source": args.source, "removed": removed, "next": nxt}, "\n".join(lines))
    return 0
