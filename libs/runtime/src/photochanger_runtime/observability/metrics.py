"""Prometheus metrics of the platform: one definition each, documented in Docs/metrics.md.

Labels are bounded (slot ids are 15, providers and codes are enums); never job ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60)

INGEST_REQUESTS = Counter(
    "photochanger_ingest_requests_total", "Ingest requests by HTTP status code", ["status_code"]
)
INGEST_LATENCY = Histogram(
    "photochanger_ingest_latency_seconds",
    "Time from ingest request to answer, by outcome",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
)
UPLOADS_IN_FLIGHT = Gauge(
    "photochanger_ingest_uploads_in_flight", "Ingest request bodies being read right now"
)
INGEST_REFUSED = Counter(
    "photochanger_ingest_refused_total",
    "Ingest requests refused before or while their body was read, by reason",
    ["reason"],
)
INGEST_PASSWORD_FAILURES = Counter(
    "photochanger_ingest_password_failures_total",
    "Ingest requests answered 401: wrong or missing ingest password",
)
PASSWORD_VERIFICATIONS = Counter(
    "photochanger_password_verifications_total",
    "Slow (argon2) password verifications run, by what they guard",
    ["purpose"],
)
DATABASE_COMMANDS = Counter(
    "photochanger_database_commands_total",
    "MongoDB commands this process started, by command name",
    ["command"],
)
ADMIN_LOGIN_FAILURES = Counter(
    "photochanger_admin_login_failures_total",
    "Admin logins refused, by reason (invalid_credentials, throttled)",
    ["reason"],
)
CONSUMER_ERRORS = Counter(
    "photochanger_consumer_errors_total",
    "Kafka messages whose handler raised, by topic and what was done (retried, dead_lettered)",
    ["topic", "action"],
)
JOBS_CREATED = Counter("photochanger_jobs_created_total", "Jobs created", ["slot_id", "provider"])
JOBS_FINALIZED = Counter(
    "photochanger_jobs_finalized_total",
    "Jobs finalized, by outcome (counted by the service that finalized them)",
    ["outcome", "slot_id", "provider"],
)
REQUESTS_WAITING = Gauge(
    "photochanger_ingest_waiting_requests", "Ingest requests waiting for their job's outcome"
)
PROVIDER_JOBS_IN_FLIGHT = Gauge(
    "photochanger_provider_jobs_in_flight", "Jobs a provider service is working on", ["provider"]
)
PROVIDER_CALL_LATENCY = Histogram(
    "photochanger_provider_call_seconds",
    "Provider HTTP calls by provider and call",
    ["provider", "call"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "photochanger_provider_errors_total", "Provider call errors by code", ["provider", "code"]
)
PROVIDER_RETRIES = Counter(
    "photochanger_provider_retries_total", "Provider attempts retried", ["provider"]
)
PROVIDER_POLLS = Histogram(
    "photochanger_provider_polls_per_job",
    "Status polls per job",
    ["provider"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34),
)
RATE_LIMIT_WAITS = Counter(
    "photochanger_provider_rate_limit_waits_total",
    "Times a job waited for the provider's concurrency or rate limit",
    ["provider"],
)
TIMEOUTS = Counter(
    "photochanger_job_timeouts_total", "Jobs finalized as timeout, by who noticed", ["finalizer"]
)
LATE_RESULTS_IGNORED = Counter(
    "photochanger_late_results_ignored_total",
    "Provider results that arrived after the job was final",
    ["provider"],
)
DLQ_MESSAGES = Counter(
    "photochanger_dlq_messages_total", "Messages sent to the dead-letter topic", ["topic"]
)
REAPER_LAG = Gauge(
    "photochanger_reaper_lag_seconds", "Age of the oldest overdue item at the last sweep", ["kind"]
)
REAPER_DELETED = Counter(
    "photochanger_reaper_removed_total", "Items the reaper expired or deleted", ["kind"]
)
DISPATCHED = Counter(
    "photochanger_jobs_dispatched_total", "Jobs routed to a provider topic", ["provider"]
)
# -- the fleet's provider admission (ADR-0019) --------------------------------------------------
ADMISSION_WAIT = Histogram(
    "photochanger_provider_admission_wait_seconds",
    "Time a provider call waited for its permit from the fleet's admission owner",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
ADMISSION_DECISIONS = Counter(
    "photochanger_provider_admission_decisions_total",
    "Permits decided by the provider's admission owner: granted, or denied by reason "
    "(budget, breaker_open, spend_cap)",
    ["provider", "decision"],
)
PROVIDER_BREAKER_STATE = Gauge(
    "photochanger_provider_breaker_state",
    "The provider's circuit breaker as its admission owner sees it: 0 closed, 1 half-open, "
    "2 open (exported by the owning dispatcher replica only)",
    ["provider"],
)
PROVIDER_BUDGET_IN_FLIGHT = Gauge(
    "photochanger_provider_budget_in_flight",
    "Provider calls holding a permit now, fleet-wide (owning dispatcher replica only)",
    ["provider"],
)
PROVIDER_BUDGET_GRANTS_LAST_MINUTE = Gauge(
    "photochanger_provider_budget_grants_last_minute",
    "Permits granted in the last 60 s, fleet-wide (owning dispatcher replica only)",
    ["provider"],
)
PROVIDER_BUDGET_LIMIT = Gauge(
    "photochanger_provider_budget_limit",
    "The provider's fleet-wide limits: requests_per_minute and max_concurrent_jobs",
    ["provider", "limit"],
)
PROVIDER_SPEND_TODAY = Gauge(
    "photochanger_provider_spend_today",
    "Estimated spend of the provider today (UTC), fleet-wide (owning dispatcher replica only)",
    ["provider"],
)
PROVIDER_CALLS = Counter(
    "photochanger_provider_calls_total",
    "Permitted provider calls that ended, by outcome (success, failure, rejected, abandoned)",
    ["provider", "slot_id", "outcome"],
)
PROVIDER_USAGE = Counter(
    "photochanger_provider_usage_total",
    "Usage the provider's answers reported (images, tokens), by figure",
    ["provider", "slot_id", "figure"],
)
PROVIDER_COST = Counter(
    "photochanger_provider_cost_total",
    "Estimated cost of provider calls from the price table in configs/providers.json",
    ["provider", "slot_id"],
)
