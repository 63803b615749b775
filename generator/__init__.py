"""flughafen-gen: declarative query-to-cache code generator.

The pipeline: Path -> RawSpec (load) -> Spec (validate) -> CompiledQuery (sql)
-> files (emit) -> disk or diff (write). Generated modules import only
``flughafen``.
"""
