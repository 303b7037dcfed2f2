"""A typed client of the PhotoChanger client job API (`/v1`, see spec/contracts/openapi.yaml).

    async with PhotoChanger("https://photos.example.com", key="pck_…") as api:
        job = await api.submit("slot-001", photo, webhook_url="https://app.example.com/hook")
        job = await api.wait(job.id)           # follows the job's event stream
        image = await api.result(job.id)

`verify_webhook` checks a delivery's Standard Webhooks signature with the key's secret."""

from .client import PhotoChanger
from .errors import ApiError, InvalidSignature
from .models import ClientJobError, Image, Job, JobEvent, JobUrls, Result, Timings
from .webhooks import verify_webhook

__all__ = [
    "ApiError",
    "ClientJobError",
    "Image",
    "InvalidSignature",
    "Job",
    "JobEvent",
    "JobUrls",
    "PhotoChanger",
    "Result",
    "Timings",
    "verify_webhook",
]
