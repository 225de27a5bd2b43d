"""Index the user's function app: its functions, triggers and bindings, from the worker's metadata."""
