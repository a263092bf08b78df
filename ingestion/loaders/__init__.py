"""Loaders move bronze objects into the warehouse's raw schema (DuckDB locally, Redshift in production)."""
