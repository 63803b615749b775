"""flughafen-gen: declarative query-to-cache code generator.

The pipeline (pipeline.py), a part for each stage: Path -> RawSpec (spec/load)
-> Spec (spec/validate) -> CompiledQuery (sql/compile) -> Linked (link) ->
sources (render) -> files (format) -> disk or diff (write). Each store kind
(stores/) holds what is its own in every stage; commands/ holds the commands
besides build. Generated modules import only ``flughafen``.
"""
