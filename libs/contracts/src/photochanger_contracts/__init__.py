"""PhotoChanger's shared language: events, topics, job states, deadlines, errors and the
provider adapter protocol. Pure code: no I/O, no dependency on the rest of the platform."""

from . import deadlines, topics
from .adapters import (
    InputImage,
    PollResult,
    ProviderAdapter,
    ProviderInput,
    ProviderResult,
    Submission,
)
from .errors import ErrorCode, ProviderError, ProviderErrorCode
from .events import (
    CallEnded,
    DeadLetter,
    Event,
    JobCancelRequested,
    JobCreated,
    JobSpec,
    JobStatusChanged,
    MediaRef,
    PermitDecision,
    PermitRequested,
    ProviderJobRequested,
    TemplateBinding,
)
from .jobs import SLOT_IDS, JobOutcome, JobStatus, Operation, can_claim, can_finalize, is_slot_id
from .media import ImageMime, sniff_image_mime
from .slots import (
    BaseSlotSettings,
    SlotSettingsError,
    validate_slot_settings,
)

__all__ = [
    "SLOT_IDS",
    "BaseSlotSettings",
    "CallEnded",
    "DeadLetter",
    "ErrorCode",
    "Event",
    "ImageMime",
    "InputImage",
    "JobCancelRequested",
    "JobCreated",
    "JobOutcome",
    "JobSpec",
    "JobStatus",
    "JobStatusChanged",
    "MediaRef",
    "Operation",
    "PermitDecision",
    "PermitRequested",
    "PollResult",
    "ProviderAdapter",
    "ProviderError",
    "ProviderErrorCode",
    "ProviderInput",
    "ProviderJobRequested",
    "ProviderResult",
    "SlotSettingsError",
    "Submission",
    "TemplateBinding",
    "can_claim",
    "can_finalize",
    "deadlines",
    "is_slot_id",
    "sniff_image_mime",
    "topics",
    "validate_slot_settings",
]
