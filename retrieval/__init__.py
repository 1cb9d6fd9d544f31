"""Retrieval over the plant's manuals, procedures and logs: ingestion, hybrid search, citations."""
