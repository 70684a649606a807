"""partial due indexes

The worker's due indexes hold only what it may still have to do, per account:
delivered outbox entries and answered invitations leave them (before, every row
stayed in them forever).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _partial(name: str, table: str, columns: list[str], predicate: str) -> None:
    where = sa.text(predicate)
    op.create_index(name, table, columns, unique=False, sqlite_where=where,
                    postgresql_where=where)


def upgrade() -> None:
    op.drop_index('ix_invitations_due', table_name='invitations')
    op.drop_index('ix_invitations_reminder_due', table_name='invitations')
    op.drop_index('ix_outbox_due', table_name='outbox')
    _partial('ix_invitations_due', 'invitations', ['account_id', 'send_at'],
             "status IN ('scheduled')")
    _partial('ix_invitations_reminder_due', 'invitations', ['account_id', 'next_reminder_at'],
             "status IN ('sent', 'opened', 'reminded')")
    _partial('ix_outbox_due', 'outbox', ['account_id', 'next_attempt_at'], "state IN ('pending')")


def downgrade() -> None:
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_index('ix_invitations_reminder_due', table_name='invitations')
    op.drop_index('ix_invitations_due', table_name='invitations')
    op.create_index('ix_outbox_due', 'outbox', ['state', 'next_attempt_at'], unique=False)
    op.create_index('ix_invitations_reminder_due', 'invitations', ['next_reminder_at'],
                    unique=False)
    op.create_index('ix_invitations_due', 'invitations', ['status', 'send_at'], unique=False)
