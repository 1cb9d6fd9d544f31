"""Grounded chat: answers from the plant's documents and live state, cited, kept per user."""
