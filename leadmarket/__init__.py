"""Leadmarket's shared home: settings, database, errors, money, Celery, Redis, identity, CLI."""
