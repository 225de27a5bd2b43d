"""The host's side of the worker processes: start, route requests, time out, restart; the engine's runner
over them and the built-in HTTP activity it runs in the host (durable_runner.py, http_activity.py)."""
