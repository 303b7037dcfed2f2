"""A local stand-in for Turbotext's queue API (`create_queue`, `get_result`, result files) that
speaks the real wire format and obeys the emulator directives. Declared as the `turbotext` entry
point of `photochanger.emulators`; needs the `emulator` extra (photochanger-emulators)."""

from .app import create_turbotext_app
from .engine import TurbotextEngine

#: the factory every emulator declares: `create_app(api_key) -> ASGI app`
create_app = create_turbotext_app

__all__ = ["TurbotextEngine", "create_app", "create_turbotext_app"]
