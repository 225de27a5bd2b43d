"""The host <-> worker channel: framing and message shapes, shared by both sides.

Imports only the standard library, so the worker can run in an interpreter where devhost's own
dependencies are not installed.
"""
