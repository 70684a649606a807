"""retention indexes

The worker finds history events and delivered outbox entries past their
retention period by age.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_invitation_events_at', 'invitation_events', ['at'], unique=False)
    delivered = sa.text("state IN ('delivered')")
    op.create_index('ix_outbox_delivered', 'outbox', ['delivered_at'], unique=False,
                    sqlite_where=delivered, postgresql_where=delivered)


def downgrade() -> None:
    op.drop_index('ix_outbox_delivered', table_name='outbox')
    op.drop_index('ix_invitation_events_at', table_name='invitation_events')
