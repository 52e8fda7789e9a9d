"""Data collection: importers for files, git repositories, JSONL exports and web pages into PostgreSQL."""
