"""The SQL stage: each spec's query checked against the schema, typed, and held per dialect.

``compile.py`` runs the steps (parse, resolve, types/typer, result,
portable, dialects, writes), each a module of its own.
"""
