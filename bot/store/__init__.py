"""Persistence: SQLAlchemy 2 async over SQLite (default) or PostgreSQL. All queries live in this package."""

from bot.store.store import InboundEvent, Store, Timer

__all__ = ["InboundEvent", "Store", "Timer"]
