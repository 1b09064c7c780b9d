"""Repositories: SQL for the API's tables. Each function takes a connection (the caller owns the
transaction) and returns domain dataclasses."""
