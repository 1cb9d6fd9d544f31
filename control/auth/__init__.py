"""Authentication: API keys (also accepted as bearer tokens) mapped to a user and a role."""

from control.auth.keys import (
    DEMO_USERS,
    KEY_PREFIX,
    ApiKey,
    IssuedKey,
    KeyFileError,
    KeyStore,
    UnknownKey,
    UnknownRole,
    ensure_demo_keys,
)

__all__ = [
    "DEMO_USERS",
    "KEY_PREFIX",
    "ApiKey",
    "IssuedKey",
    "KeyFileError",
    "KeyStore",
    "UnknownKey",
    "UnknownRole",
    "ensure_demo_keys",
]
