"""Task quality as a column (filled from existing records) and scaling-law fits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("task_accuracy", sa.Float, nullable=True))
    conn = op.get_bind()
    entries = sa.table("entries", sa.column("id", sa.Integer), sa.column("record", sa.Text),
                       sa.column("task_accuracy", sa.Float))
    for row_id, record in conn.execute(sa.select(entries.c.id, entries.c.record)).all():
        quality = (json.loads(record).get("task_quality") or {}).get("heldout_accuracy")
        if quality is not None:
            conn.execute(entries.update().where(entries.c.id == row_id).values(task_accuracy=quality))
    op.create_table(
        "scaling_fits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("base_sha256", sa.String(64), nullable=True),
        sa.Column("law", sa.String(64), nullable=False),
        sa.Column("y", sa.String(64), nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("points", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scaling_fits")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("task_accuracy")
