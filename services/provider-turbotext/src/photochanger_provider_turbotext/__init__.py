"""The Turbotext provider: `TurbotextAdapter` maps the provider lifecycle onto `api_ai`."""

from .adapter import TurbotextAdapter, TurbotextRequest, parse_queue_reference, queue_reference

__all__ = ["TurbotextAdapter", "TurbotextRequest", "parse_queue_reference", "queue_reference"]
