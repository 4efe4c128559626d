"""Exact answers to everyday data questions: question → plan → one read-only SQL query.

Pure logic, no I/O: `schema` reads the attached workbook's profile, `words` the question,
`planning` maps one onto the other, `sql` writes the query and `reply` the answer's words.
"""
