"""crm connections

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_connections',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('connector', sa.String(length=16), nullable=False),
    sa.Column('endpoint', sa.String(length=2000), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('api_key', sa.String(length=200), server_default='', nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=254), server_default='', nullable=False),
    sa.Column('client_id_param', sa.String(length=64), nullable=False),
    sa.Column('field_prefix', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_crm_connections_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_crm_connections'))
    )


def downgrade() -> None:
    op.drop_table('crm_connections')
