"""The emulator kit: what every provider emulator is built from (scenario directives, images,
counters, an access log, loopback serving) and how emulators are found.

Each provider package ships its own emulator and declares its factory
(`create_app(api_key: str) -> ASGI app`) as an entry point of the group `photochanger.emulators`,
named by the provider id; :func:`emulator_factory` and the CLI find it there.
"""

from photochanger_emulators.registry import (
    EMULATOR_ENTRY_POINTS,
    EmulatorFactory,
    emulator_factory,
    emulator_ids,
)
from photochanger_emulators.serving import running

__all__ = [
    "EMULATOR_ENTRY_POINTS",
    "EmulatorFactory",
    "emulator_factory",
    "emulator_ids",
    "running",
]
