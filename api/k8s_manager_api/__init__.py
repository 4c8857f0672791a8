"""What the operator and the facade share: the custom resources' identity and the Kubernetes API adapter."""
