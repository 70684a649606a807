"""HTTP pages and endpoints for people and batch jobs."""
