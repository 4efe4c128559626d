"""Workbook tables: one DuckDB file per workbook, and the read-only query path over them."""
