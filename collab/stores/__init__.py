"""The document stores: the only code that knows a database schema (SQLite, PostgreSQL)."""
