"""Pure logic of the Hello Cities app: input validation, queue messages, the results collector."""
