"""Procedure walk-throughs: each repository workflow driven as its staff would, on the pure core, SQLite and the CLI."""
