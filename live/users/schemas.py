"""The users service's JSON bodies, and the rules a new account must follow.

A username is 3 to 32 characters: lowercase letters, digits, ``_`` or ``-``, starting with a letter
(so it is safe in a URL path and an ``X-User`` header, and cannot collide with ``/users/me``). A
password is 8 to 128 characters (the upper bound keeps a request from buying a long hash). Email
and full name are optional. A rule broken is a 422 whose message says the rule.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from live.users.store import User

__all__ = ["PASSWORD_LENGTH", "USERNAME_RULE", "Profile", "PublicProfile", "SignUp", "TokenResponse"]

USERNAME_RULE = "3 to 32 characters: lowercase letters, digits, '_' or '-', starting with a letter"
PASSWORD_LENGTH = (8, 128)
_USERNAME = re.compile(r"[a-z][a-z0-9_-]{2,31}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SignUp(BaseModel):
    """``POST /users``: a new account."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(description=f"Unique; {USERNAME_RULE}.", examples=["alice"])
    password: str = Field(min_length=PASSWORD_LENGTH[0], max_length=PASSWORD_LENGTH[1])
    email: str | None = Field(default=None, max_length=254, examples=["alice@example.org"])
    full_name: str | None = Field(default=None, min_length=1, max_length=100, examples=["Alice Liddell"])

    @field_validator("username")
    @classmethod
    def _username_rule(cls, value: str) -> str:
        if not _USERNAME.fullmatch(value):
            raise PydanticCustomError("username", "a username is {rule}", {"rule": USERNAME_RULE})
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise PydanticCustomError("email", "an email address looks like name@example.org")
        return value


class PublicProfile(BaseModel):
    """What anyone may see of an account."""

    username: str
    full_name: str | None

    @classmethod
    def of(cls, user: User) -> PublicProfile:
        return cls(username=user.username, full_name=user.full_name)


class Profile(PublicProfile):
    """What the account's owner sees: also the email, the scopes it may be granted, when it was made."""

    email: str | None
    scopes: list[str]
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> Profile:
        return cls(
            username=user.username,
            full_name=user.full_name,
            email=user.email,
            scopes=sorted(user.scopes),
            created_at=datetime.fromtimestamp(user.created_at, UTC),
        )


class TokenResponse(BaseModel):
    """``POST /users/token``: an access token, as RFC 6749 section 5.1 returns it."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the token stays valid.")
    scope: str = Field(description="The scopes granted, space separated (may be fewer than requested).")
