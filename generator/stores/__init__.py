"""Store kinds on the build side."""
