"""What every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.config import ApiSettings
from api.engine import ApiEngine
from api.roles import Principal

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The engine, the authenticated caller, the settings and the request's time."""

    engine: ApiEngine
    principal: Principal
    settings: ApiSettings
    now: datetime
