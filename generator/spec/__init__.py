"""The spec stage: YAML files read with positions (load), checked into typed Specs (validate)."""
