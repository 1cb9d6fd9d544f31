"""Shared fixtures for the retrieval tests."""
