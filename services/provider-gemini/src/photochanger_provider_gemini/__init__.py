"""The Gemini provider: `GeminiAdapter` maps the provider lifecycle onto `generateContent`."""

from .adapter import GeminiAdapter, PreparedGenerateContent

__all__ = ["GeminiAdapter", "PreparedGenerateContent"]
