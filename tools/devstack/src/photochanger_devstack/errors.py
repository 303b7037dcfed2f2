"""The one exception type the dev stack raises for problems a developer has to act on."""


class DevstackError(RuntimeError):
    """Installing, starting or stopping a local server failed; the message says what to do."""
