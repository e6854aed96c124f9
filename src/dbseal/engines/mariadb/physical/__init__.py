"""Physical (file-level, hot) backups of a local MariaDB server with mariadb-backup.

:class:`~.source.MariabackupSource` (preflight, then ``mariadb-backup --backup
--stream=mbstream``) hands ``ops.backup`` a :class:`~.run.MariabackupRun`: the mbstream,
followed as it passes (:mod:`.mbstream`), and a verdict that never trusts the exit status
alone; :mod:`.facts` is what the manifest records.
"""
