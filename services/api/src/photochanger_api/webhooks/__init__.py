"""Signed webhooks for client jobs: recorded from `jobs.status` by a consumer group, delivered
at least once with backoff until the job's result expires (ADR-0016)."""
