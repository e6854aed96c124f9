"""`dbseal schedule`: systemd timer and service units, or cron lines, for one source.

* :mod:`.escape`: unit names (systemd-escape rules), ExecStart= and cron quoting;
* :mod:`.calendar`: hourly/daily/weekly/monthly or an OnCalendar expression;
* :mod:`.spec`: what to schedule and the exact ``dbseal ... -q`` command lines;
* :mod:`.systemd` / :mod:`.cron`: the files' text;
* :mod:`.files`: the ownership marker, atomic writes, refusal to overwrite, removal.

Pure text generation except :mod:`.files` (the file system) and the optional
``systemd-analyze calendar`` call in :mod:`.calendar`. docs/operations.md,
"An unattended setup", describes the result.
"""
