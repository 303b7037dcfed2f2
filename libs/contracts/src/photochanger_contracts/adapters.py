"""The provider adapter protocol: what the shared provider runtime asks of every provider.

An adapter maps the lifecycle onto one provider's HTTP API and nothing else: it never
touches MongoDB or Kafka, never sleeps between polls and never decides about retries.
The runtime owns claims, deadlines, retries, cancellation, storage and the processing log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .jobs import Operation


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image handed to a provider: its bytes, and a public URL when the provider needs one."""

    role: str
    data: bytes = field(repr=False)
    mime_type: str
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderInput:
    job_id: str
    slot_id: str
    operation: Operation
    settings: Mapping[str, Any]
    photo: InputImage
    templates: Sequence[InputImage]
    expires_at: datetime

    def template(self, role: str) -> InputImage | None:
        return next((t for t in self.templates if t.role == role), None)


@dataclass(frozen=True, slots=True)
class ProviderResult:
    data: bytes = field(repr=False)
    mime_type: str | None = None
    #: what the provider reports the call used (token counts, images, ...): numbers only, by
    #: the provider's own names; the runtime writes them into the processing log
    usage: Mapping[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Submission:
    """What `submit_job` returns: a reference to poll, or the finished result at once."""

    reference: str | None = None
    result: ProviderResult | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    done: bool
    result: ProviderResult | None = None


@runtime_checkable
class ProviderAdapter(Protocol):
    provider_id: str
    #: inputs must be reachable at public URLs (the runtime creates the links)
    needs_public_urls: bool
    #: MIME types the provider accepts for inputs
    accepted_mime_types: frozenset[str]
    #: pause between two `poll_status` calls
    poll_interval_seconds: float

    async def prepare_payload(self, job: ProviderInput) -> Any:
        """Build the provider request; raise ProviderError for inputs it cannot take."""
        ...

    async def submit_job(self, prepared: Any, *, timeout: float) -> Submission:
        """Send the request. Synchronous providers return the result in the Submission."""
        ...

    async def poll_status(self, reference: str, *, timeout: float) -> PollResult:
        """Ask once whether the remote job is done."""
        ...

    async def cancel_job(self, reference: str) -> None:
        """Stop remote work. Providers without a cancel call implement a documented no-op."""
        ...
