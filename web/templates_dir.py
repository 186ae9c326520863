"""Where the portal's templates and static files live (the app factory and tests share this)."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
