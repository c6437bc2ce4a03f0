"""Entries and their judged responses.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("adapter_sha256", sa.String(64), nullable=True, index=True),
        sa.Column("method", sa.String(64), nullable=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("balanced_safety", sa.Float, nullable=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "responses",
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("item_id", sa.String(200), primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("responses")
    op.drop_table("entries")
