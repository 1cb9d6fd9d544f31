"""Andon's operator assistant: language-model backends first, chat and plans built on them."""
