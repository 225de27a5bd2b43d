"""The durable engine: a task hub on disk that drives the azure-functions-durable SDK."""
