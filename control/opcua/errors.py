"""What the plant driver raises: one base class, so callers can catch every plant failure."""

from __future__ import annotations

from asyncua.ua.status_codes import get_name_and_doc


class DriverError(Exception):
    """The driver could not talk to the plant, or the plant answered with an error.

    `status` is the OPC-UA status code name when there is one (e.g. "BadUserAccessDenied"),
    otherwise a short driver-defined reason (e.g. "ReadBackMismatch").
    """

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotConnectedError(DriverError):
    """No live session to the plant: nothing was read or sent."""

    def __init__(self, message: str = "not connected to the plant") -> None:
        super().__init__(message, "BadNotConnected")


class ActuationError(DriverError):
    """A setpoint write or a command did not provably take effect.

    `outcome_unknown` is True when the request may have reached the plant but no answer
    came back (timeout, connection dropped mid-call): the plant may or may not have acted.
    Commands are safe to retry with the same idempotency key; setpoint writes must be
    re-read before any retry.
    """

    def __init__(self, message: str, status: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message, status)
        self.outcome_unknown = outcome_unknown


def status_name(code: int) -> str:
    """`BadOutOfRange` for 0x803C0000 (what `UaStatusCodeError.code` holds)."""
    return get_name_and_doc(code)[0]
