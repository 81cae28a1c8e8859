"""Tests of graphrec.ingest."""
