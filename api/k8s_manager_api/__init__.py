"""What the operator and the facade share: the custom resources' identity, the Kubernetes API adapter and the text
log line format."""
