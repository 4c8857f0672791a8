"""k8s-manager's gRPC facade: the Admin API's entry point, writing custom resources for the operator."""
