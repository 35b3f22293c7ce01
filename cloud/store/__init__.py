"""The service's storage: one data layer over SQLite (default, embedded) or PostgreSQL (by URL)."""
