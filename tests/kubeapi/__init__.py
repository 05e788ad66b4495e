"""The loopback test API server: a Kubernetes API server of the project's own for the tests and the demo."""
