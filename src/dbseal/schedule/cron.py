"""A /etc/cron.d file for one source: one line per job, run as ``spec.user``.

No ``flock`` wrapper: ``dbseal backup`` takes its own per-source run lock. cron mails
whatever a job prints to MAILTO (or the user); ``-q`` makes success silent.
"""

from __future__ import annotations

from dbseal.schedule.calendar import cron_schedule
from dbseal.schedule.escape import check_text, cron_command, cron_name
from dbseal.schedule.spec import Credential, ScheduleSpec, Word, argv
from dbseal.schedule.systemd import UnitFile, marker


def _cred_word(cred: Credential) -> Word:
    return (cred.path, True)


def cron_lines(spec: ScheduleSpec) -> list[str]:
    out = []
    for kind, value in spec.jobs.items():
        command = cron_command([w for w, _ in argv(spec, kind, _cred_word)])
        out.append(f"{cron_schedule(kind, value, spec.source)} {spec.user} {command}")
    return out


def cron_file(spec: ScheduleSpec) -> UnitFile:
    lines = [
        marker(spec, " --cron"),
        "# cron mails any output of a job; with -q dbseal prints only failures.",
    ]
    if spec.mailto:
        lines.append(f"MAILTO={check_text(spec.mailto, '--mailto')}")
    else:
        lines.append("# MAILTO is unset: failures are mailed to the job's user (--mailto ADDR)")
    lines += [
        "SHELL=/bin/sh",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        *cron_lines(spec),
        "",
    ]
    return UnitFile(cron_name(spec.source), "\n".join(lines))
