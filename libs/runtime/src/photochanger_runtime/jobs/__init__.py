"""Jobs: the record (`model`), the state machine (`machine`, pure), where records are kept
(`store`: the interface, `mongo_store` and `memory_store`), and the one writer that applies
transitions (`transitions`)."""

from __future__ import annotations

from photochanger_contracts import JobOutcome, JobStatus

from . import machine
from .machine import IllegalTransition, Transition
from .model import Job, JobError, LogEntry
from .store import Claim, DuplicateJob, JobStore, WorkerPresence, current
from .transitions import EventBus, JobTransitions, PublishFailed, RecordUncertain

__all__ = [
    "Claim",
    "DuplicateJob",
    "EventBus",
    "IllegalTransition",
    "Job",
    "JobError",
    "JobOutcome",
    "JobStatus",
    "JobStore",
    "JobTransitions",
    "LogEntry",
    "PublishFailed",
    "RecordUncertain",
    "Transition",
    "WorkerPresence",
    "current",
    "machine",
]
