"""A local stand-in for Gemini's `generateContent` that speaks the real wire format and obeys
the emulator directives (`photochanger_emulators.directives`). Declared as the `gemini` entry
point of `photochanger.emulators`; needs the `emulator` extra (photochanger-emulators)."""

from .app import DEFAULT_MAX_REQUEST_BYTES, GeminiEmulator, create_gemini_app

#: the factory every emulator declares: `create_app(api_key) -> ASGI app`
create_app = create_gemini_app

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "GeminiEmulator", "create_app", "create_gemini_app"]
