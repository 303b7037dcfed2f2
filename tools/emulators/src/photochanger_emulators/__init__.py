"""Local emulators of the AI image providers PhotoChanger talks to (Gemini, Turbotext).

Both speak the providers' real wire formats and are steered by scenario directives (see
:mod:`photochanger_emulators.directives`).
"""

from photochanger_emulators.gemini import create_gemini_app
from photochanger_emulators.serving import running
from photochanger_emulators.turbotext import create_turbotext_app

__all__ = ["create_gemini_app", "create_turbotext_app", "running"]
