"""account on every row

invitation_events and list_members name their account (filled in from their
invitation and list), as every other account-owned table does, so that each can
be distributed by account; list_members' primary key leads with it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _id_type():
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('invitation_events') as batch:
        batch.add_column(sa.Column('account_id', _id_type(), nullable=True))
    op.execute('UPDATE invitation_events SET account_id = (SELECT account_id FROM invitations'
               ' WHERE invitations.id = invitation_events.invitation_id)')
    with op.batch_alter_table('invitation_events') as batch:
        batch.alter_column('account_id', existing_type=_id_type(), nullable=False)
        batch.create_foreign_key(op.f('fk_invitation_events_account_id_accounts'), 'accounts',
                                 ['account_id'], ['id'])
        batch.drop_index('ix_invitation_events_invitation')
        batch.create_index('ix_invitation_events_account',
                           ['account_id', 'invitation_id', 'id'], unique=False)

    with op.batch_alter_table('list_members') as batch:
        batch.add_column(sa.Column('account_id', _id_type(), nullable=True))
    op.execute('UPDATE list_members SET account_id = (SELECT account_id FROM contact_lists'
               ' WHERE contact_lists.id = list_members.list_id)')
    with op.batch_alter_table('list_members') as batch:
        batch.alter_column('account_id', existing_type=_id_type(), nullable=False)
        batch.create_foreign_key(op.f('fk_list_members_account_id_accounts'), 'accounts',
                                 ['account_id'], ['id'])
        batch.drop_constraint('pk_list_members', type_='primary')
        batch.create_primary_key('pk_list_members', ['account_id', 'list_id', 'contact_id'])


def downgrade() -> None:
    with op.batch_alter_table('list_members') as batch:
        batch.drop_constraint('pk_list_members', type_='primary')
        batch.create_primary_key('pk_list_members', ['list_id', 'contact_id'])
        batch.drop_constraint('fk_list_members_account_id_accounts', type_='foreignkey')
        batch.drop_column('account_id')
    with op.batch_alter_table('invitation_events') as batch:
        batch.drop_index('ix_invitation_events_account')
        batch.create_index('ix_invitation_events_invitation', ['invitation_id', 'id'],
                           unique=False)
        batch.drop_constraint('fk_invitation_events_account_id_accounts', type_='foreignkey')
        batch.drop_column('account_id')
