"""Errors users must tell apart. Every error the host raises derives from DevHostError."""

from __future__ import annotations


class DevHostError(Exception):
    """Root of every error raised by the local host."""


class ConfigError(DevHostError):
    """host.json, local.settings.json, an app setting or a CLI argument is invalid."""


class AppLoadError(DevHostError):
    """function_app.py cannot be imported or indexed (including unsupported bindings)."""


class InterpreterError(DevHostError):
    """The Python chosen for the workers is missing, is not a Python interpreter, or is too old."""


class AppPackagesMissingError(DevHostError):
    """The app's Python lacks azure-functions or azure-functions-durable (the message has the pip command)."""


class AzuriteNotFoundError(DevHostError):
    """The app needs Azurite and none is installed (or Node.js is missing); the message says how to get it."""


class StoreError(DevHostError):
    """The task hub store cannot be used."""


class StoreLockedError(StoreError):
    """Another host process already owns the data directory."""


class StoreCorruptError(StoreError):
    """The store file is not a task hub of ours, or is damaged; it is never overwritten."""


class DurableError(DevHostError):
    """A durable management operation was refused; maps onto an HTTP status."""

    http_status = 400


class InvalidRequestError(DurableError):
    """Malformed input: bad JSON, bad id, unknown option (HTTP 400)."""

    http_status = 400


class FunctionNotFoundError(DurableError):
    """No orchestrator, activity or entity of that name is registered (HTTP 400)."""

    http_status = 400


class InstanceNotFoundError(DurableError):
    """No instance with that id exists (HTTP 404)."""

    http_status = 404


class InstanceExistsError(DurableError):
    """An instance with that id is already pending or running (HTTP 409 on our API, 400 for the SDK)."""

    http_status = 409


class InstanceStateError(DurableError):
    """The instance is in a state that does not allow the operation (HTTP 410)."""

    http_status = 410


class InvalidOperationError(DurableError):
    """The operation does not apply to the instance's state (suspend a Suspended one, resume a Running one).

    The Durable extension's client throws InvalidOperationException there and its HTTP API answers 500
    (azure-functions-durable-extension DurableClient.SuspendAsync/ResumeAsync, HttpApiHandler); the SDK's
    suspend() and resume() then raise "The operation failed with an unexpected status code 500".
    """

    http_status = 500
