"""The PostgreSQL engine: ``postgresql://`` sources (:mod:`.url`), logical backups with
pg_dump in the dump's own snapshot (:mod:`.dump`), restores with pg_restore (:mod:`.restore`),
a throwaway server (:mod:`.sandbox`). SQL goes through ``psql`` (:mod:`.psql`), the password
through a 0600 passfile (:mod:`.passfile`). See docs/postgresql.md.
"""
