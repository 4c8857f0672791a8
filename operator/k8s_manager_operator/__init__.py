"""k8s-manager's operator (kopf): reconciles Runtime and RuntimeVersion resources into Kubernetes objects."""
