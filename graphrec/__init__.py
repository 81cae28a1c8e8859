"""graphrec: a graph-database-backed recommender service (CLI, settings and diagnostics)."""

__version__ = "0.1.0"
