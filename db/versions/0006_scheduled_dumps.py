"""scheduled dumps

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dump_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('gzip', sa.Boolean(), nullable=False),
    sa.Column('cursor_from', sa.BigInteger(), nullable=False),
    sa.Column('cursor_to', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_dump_files_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_dump_files_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dump_files')),
    sa.UniqueConstraint('account_id', 'name', name='uq_dump_files_account_name')
    )
    op.create_index('ix_dump_files_campaign', 'dump_files', ['campaign_id', 'created_at'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dump_every', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('dump_at', sa.String(length=5), server_default='02:00', nullable=False))
        batch_op.add_column(sa.Column('dump_format', sa.String(length=8), server_default='csv', nullable=False))
        batch_op.add_column(sa.Column('dump_gzip', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_dump_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('next_dump_at')
        batch_op.drop_column('dump_gzip')
        batch_op.drop_column('dump_format')
        batch_op.drop_column('dump_at')
        batch_op.drop_column('dump_every')

    op.drop_index('ix_dump_files_campaign', table_name='dump_files')

    op.drop_table('dump_files')
