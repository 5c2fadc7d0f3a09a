"""Storage plumbing: engines for SQLite (embedded default) and PostgreSQL, and the schema."""
