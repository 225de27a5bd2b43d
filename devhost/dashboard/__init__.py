"""Monitoring dashboard served on its own port (8082 by default) from the host's task hub."""
