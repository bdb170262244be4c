"""PostgreSQL: Heimdall's log_entries (read only) and this project's own tables."""
