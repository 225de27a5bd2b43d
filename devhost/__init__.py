"""A local development host for Python v2 Azure Functions apps, Durable Functions included."""

__version__ = "0.1.0"
