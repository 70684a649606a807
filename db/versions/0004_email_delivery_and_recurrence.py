"""email delivery and recurrence

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recurrence_list', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('last_recurrence_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_reminder_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_reminder_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_invitations_due', ['status', 'send_at'], unique=False)
        batch_op.create_index('ix_invitations_reminder_due', ['next_reminder_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_reminder_due')
        batch_op.drop_index('ix_invitations_due')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('next_reminder_at')
        batch_op.drop_column('last_reminder_at')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('last_recurrence_at')
        batch_op.drop_column('recurrence_list')

