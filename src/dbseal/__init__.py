"""dbseal: encrypted, compressed, verified database backups.

The public library API is re-exported here; everything else is private.
"""

__version__ = "0.1.0"
