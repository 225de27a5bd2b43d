"""Input and output bindings (queue, table, blob) over Azure Storage, i.e. Azurite locally."""
