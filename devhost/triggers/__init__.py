"""What starts a function: HTTP, queue and timer triggers, and the invoker they share (invoke.py)."""
