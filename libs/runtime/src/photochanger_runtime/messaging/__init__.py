"""Kafka through FastStream: the broker, declared publishers, the dead-letter middleware,
consumer options, topic provisioning and the AsyncAPI description of a service."""
