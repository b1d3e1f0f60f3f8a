"""The generate pass: turn the resolved graph into Kubernetes objects (plain data)."""
