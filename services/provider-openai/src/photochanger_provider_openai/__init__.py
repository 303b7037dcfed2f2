"""The OpenAI provider: `OpenAIAdapter` maps the provider lifecycle onto GPT Image's
`POST /v1/images/edits`."""

from .adapter import OpenAIAdapter, PreparedImageEdit

__all__ = ["OpenAIAdapter", "PreparedImageEdit"]
