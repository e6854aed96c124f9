"""systemd units for one source: a oneshot service and a timer per job.

Per-source unit names, ``dbseal-<job>-<source>.service`` / ``.timer`` (the source
escaped by systemd-escape rules), not ``dbseal-backup@.service`` templates: each
source has its own config path, credentials and writable paths, and every file is
complete by itself, so ``schedule remove`` deletes exactly what ``install`` wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbseal.schedule.calendar import on_calendar
from dbseal.schedule.escape import credential_path, exec_word, systemd_escape, unit_value
from dbseal.schedule.spec import MARKER, Credential, ScheduleSpec, Word, argv

# The sandbox of every job (docs/operations.md lists what each line does).
HARDENING = """\
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER
PrivateIPC=yes
PrivateMounts=yes
"""


@dataclass(frozen=True)
class UnitFile:
    name: str  # file name (in the unit directory or cron.d)
    text: str


def unit_base(kind: str, source: str) -> str:
    return f"dbseal-{kind}-{systemd_escape(source)}"


def marker(spec: ScheduleSpec, how: str) -> str:
    return (
        f'{MARKER} written by `dbseal schedule install{how}` for source "{spec.source}"; '
        "`dbseal schedule remove` deletes it. Edit dbseal.toml or rerun install, not this file."
    )


def _cred_word(cred: Credential) -> Word:
    return ("${CREDENTIALS_DIRECTORY}/" + cred.name, False)


def exec_start(spec: ScheduleSpec, kind: str) -> str:
    return " ".join(exec_word(w) if literal else w for w, literal in argv(spec, kind, _cred_word))


def service(spec: ScheduleSpec, kind: str) -> UnitFile:
    lines = [
        marker(spec, ""),
        "[Unit]",
        f"Description=dbseal {kind} of source {spec.source.replace('%', '%%')}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={spec.user}",
        f"ExecStart={exec_start(spec, kind)}",
    ]
    for cred in spec.credentials:
        if kind in cred.kinds:
            lines.append(f"LoadCredential={cred.name}:{credential_path(cred.path)}")
    lines += [
        "# run locks live in $RUNTIME_DIRECTORY (/run/dbseal), kept between runs",
        "RuntimeDirectory=dbseal",
        "RuntimeDirectoryMode=0700",
        "RuntimeDirectoryPreserve=yes",
    ]
    if spec.rw_paths:
        lines.append("ReadWritePaths=" + " ".join(unit_value(p) for p in spec.rw_paths))
    lines += [HARDENING.rstrip("\n"), "Nice=10", "IOSchedulingClass=best-effort"]
    return UnitFile(unit_base(kind, spec.source) + ".service", "\n".join(lines) + "\n")


def timer(spec: ScheduleSpec, kind: str) -> UnitFile:
    base = unit_base(kind, spec.source)
    lines = [
        marker(spec, ""),
        "[Unit]",
        f"Description=dbseal {kind} of source {spec.source.replace('%', '%%')}: "
        f"{spec.jobs[kind].replace('%', '%%')}",
        "",
        "[Timer]",
        f"OnCalendar={on_calendar(kind, spec.jobs[kind])}",
        "Persistent=true",
        f"RandomizedDelaySec={spec.randomized_delay}",
        "AccuracySec=1min",
        f"Unit={base}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ]
    return UnitFile(base + ".timer", "\n".join(lines))


def units(spec: ScheduleSpec) -> list[UnitFile]:
    out = []
    for kind in spec.jobs:
        out += [service(spec, kind), timer(spec, kind)]
    return out


def timer_names(spec: ScheduleSpec) -> list[str]:
    return [unit_base(kind, spec.source) + ".timer" for kind in spec.jobs]
