"""Explicit dependency annotations for handlers (Litestar 3 drops inferred dependencies)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.orm import Session

from leadmarket.identity import Principal

DbSession = NamedDependency[Session]
Caller = NamedDependency[Principal]
