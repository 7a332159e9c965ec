"""Alembic environment. The store runs migrations in-process (`Store.open` upgrades to head), handing Alembic
its connection through `config.attributes["connection"]`."""

from __future__ import annotations

from alembic import context

from bot.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("sre-agent migrations run through bot.store (Store.open / `sre-agent db upgrade`)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
