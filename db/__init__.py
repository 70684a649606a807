"""Alembic environment and migrations (installed as ``service._migrations``)."""
