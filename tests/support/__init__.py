"""Test infrastructure that is not pytest-specific (servers the fixtures start, sample requests)."""
