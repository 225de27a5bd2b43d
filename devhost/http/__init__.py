"""The host's web server: HTTP triggers, admin endpoints, the durable management API, access keys enforced."""
