"""64-bit ids

Every id column and every column referring to one becomes BIGINT on PostgreSQL,
with the sequences behind them (a SERIAL's sequence is an integer one and would
stop at 2**31 - 1 whatever the column's type). On SQLite, INTEGER is 64-bit already:
nothing changes there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

#: Tables whose own id comes from a sequence.
SEQUENCED = ['accounts', 'api_keys', 'surveys', 'campaigns', 'contacts', 'invitations',
             'responses', 'audit_log', 'attribute_definitions', 'contact_lists',
             'invitation_events', 'dump_files', 'outbox']
#: Columns that hold an id of another table.
REFERENCES = {
    'api_keys': ['account_id'], 'surveys': ['account_id'],
    'campaigns': ['account_id', 'survey_id'], 'contacts': ['account_id'],
    'invitations': ['account_id', 'campaign_id', 'contact_id'],
    'responses': ['account_id', 'campaign_id', 'invitation_id', 'contact_id'],
    'audit_log': ['account_id'], 'attribute_definitions': ['account_id'],
    'contact_lists': ['account_id'], 'list_members': ['list_id', 'contact_id'],
    'invitation_events': ['invitation_id'], 'export_cursors': ['account_id', 'campaign_id'],
    'dump_files': ['account_id', 'campaign_id'], 'webhook_secrets': ['account_id'],
    'outbox': ['account_id'], 'crm_connections': ['account_id'],
}


def _retype(integer_type, sequence_type: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, columns in REFERENCES.items():
        for column in columns:
            op.alter_column(table, column, type_=integer_type)
    for table in SEQUENCED:
        op.alter_column(table, 'id', type_=integer_type)
        op.execute(f'ALTER SEQUENCE {table}_id_seq AS {sequence_type}')


def upgrade() -> None:
    _retype(sa.BigInteger(), 'bigint')


def downgrade() -> None:
    _retype(sa.Integer(), 'integer')
