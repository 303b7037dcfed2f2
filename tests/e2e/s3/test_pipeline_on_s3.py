"""The pipeline's end-to-end tests again, with every photo and result in an S3 bucket."""

from __future__ import annotations

from tests.e2e.test_jobs_and_results import (  # noqa: F401 - collected here, on S3
    test_result_is_downloadable_until_retention_then_410,
    test_the_ingest_photo_goes_when_the_job_is_final_and_the_result_stays,
)
from tests.e2e.test_no_bytes_in_database import (  # noqa: F401
    test_no_collection_holds_image_bytes,
)
from tests.e2e.test_pipeline import *  # noqa: F403 - every pipeline test, on S3
