"""The RuntimeVersion reconciler's pure part: validation, desired objects and status (no I/O)."""
