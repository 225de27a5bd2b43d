"""The Durable Task Scheduler gRPC endpoint (TaskHubSidecarService) over devhost's durable engines."""
