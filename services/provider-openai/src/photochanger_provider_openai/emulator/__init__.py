"""A local stand-in for OpenAI's GPT Image `POST /v1/images/edits` that speaks the real wire
format (multipart `image[]`, bearer key, `b64_json` answers with usage, OpenAI error bodies)
and obeys the emulator directives: `slow`, `hang`, `error=<status>` (429 with `retry-after`),
`blocked` (a `moderation_blocked` refusal), `no-image`, `fail-times`. Declared as the `openai`
entry point of `photochanger.emulators`; needs the `emulator` extra."""

from .app import OpenAIEmulator, create_openai_app

#: the factory every emulator declares: `create_app(api_key) -> ASGI app`
create_app = create_openai_app

__all__ = ["OpenAIEmulator", "create_app", "create_openai_app"]
