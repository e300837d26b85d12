"""Test support shared by every package's tests: real broker and database, processes, helpers."""
