"""The commands besides ``build``: each a small module the command line calls."""
