"""The Runtime reconciler's pure part: desired objects, credentials handling, validation and status (no I/O)."""
