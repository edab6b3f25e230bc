"""What every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.config import ApiSettings
from api.roles import Principal
from graph.engine import Engine

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The engine, the authenticated caller, the settings and the request's time."""

    engine: Engine
    principal: Principal
    settings: ApiSettings
    now: datetime
