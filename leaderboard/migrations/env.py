"""Alembic environment of the leaderboard database (``docs/leaderboard.md#schema-and-migrations``).

:func:`leaderboard.store.migrate` runs it with an open connection inside the transaction that
holds the board's write lock, so two processes never migrate one database at once.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
