"""The sealed file format: header grammar, chunked payload, trailer.

Pure: no storage, no CLI, no subprocess, no recipient logic. The normative
specification is docs/format.md; the constants below are its wire values.
"""

from dbseal.format.header import (
    FORMAT_VERSION,
    MAGIC,
    Header,
    derive_subkeys,
    read_header,
)
from dbseal.format.stanza import Stanza

__all__ = ["FORMAT_VERSION", "MAGIC", "Header", "Stanza", "derive_subkeys", "read_header"]
