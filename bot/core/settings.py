"""Settings from the environment or ``.env`` (pydantic-settings), in one frozen model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nudges import Limits
from nudges import limits as product

__all__ = ["Settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything an operator can set. Every field is listed in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    focus_database: Path = Path("focus.db")
    focus_time_scale: float = Field(default=1.0, gt=0, le=product.MAX_TIME_SCALE)
    focus_allowed_users: Annotated[frozenset[int], NoDecode] = frozenset()
    # The user's /settings share these ranges (nudges/limits.py): what an operator sets for
    # everyone, each user can choose back.
    focus_default_minutes: int = Field(
        default=product.DEFAULT_FOCUS_MINUTES,
        ge=product.FOCUS_MINUTES.low,
        le=product.FOCUS_MINUTES.high,
    )
    focus_block_minutes: int = Field(
        default=product.DEFAULT_BLOCK_MINUTES,
        ge=product.BLOCK_MINUTES.low,
        le=product.BLOCK_MINUTES.high,
    )
    focus_break_minutes: int = Field(
        default=product.DEFAULT_BREAK_MINUTES,
        ge=product.BREAK_MINUTES.low,
        le=product.BREAK_MINUTES.high,
    )
    log_level: LogLevel = "INFO"
    # Webhook mode: set the public URL Telegram should post updates to.
    focus_webhook_url: str | None = None
    focus_webhook_listen: str = "127.0.0.1"
    focus_webhook_port: int = Field(default=8443, ge=1, le=65535)
    focus_webhook_secret: SecretStr | None = None

    @field_validator("focus_allowed_users", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept ``"123, 456"`` as well as a list."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
            return frozenset(int(p) for p in parts if p)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("focus_webhook_url", "focus_webhook_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty line in .env means the setting is not used."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("focus_webhook_secret")
    @classmethod
    def _secret_chars(cls, value: SecretStr | None) -> SecretStr | None:
        """Telegram allows 1-256 characters from A-Z, a-z, 0-9, _ and -."""
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """An empty ``TELEGRAM_BOT_TOKEN=`` line in .env means no token."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def file_base_url(self) -> str:
        """Where files are downloaded from: ``…/bot`` becomes ``…/file/bot``, as Telegram does."""
        base = self.telegram_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base

    def limits(self) -> Limits:
        """The nudge policy's limits. The guardrails themselves are not settings."""
        return Limits(time_scale=self.focus_time_scale)
