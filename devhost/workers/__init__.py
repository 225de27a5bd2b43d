"""The host's side of the worker processes: start, route requests, time out, restart."""
