"""HTTP and XML plumbing shared by the doors (no business rules here)."""
