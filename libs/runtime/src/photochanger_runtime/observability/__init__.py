"""Logs, traces, metrics, database command counts and health endpoints of every service."""
