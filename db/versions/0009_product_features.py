"""product features of issue 14: attributes per send, the source of an opt-out, open-link
submission keys

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


def upgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=43), nullable=True))
        batch_op.create_unique_constraint('uq_responses_campaign_submission',
                                          ['campaign_id', 'submission_key'])
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsubscribed_via', sa.String(length=16), nullable=True))
    op.execute("UPDATE contacts SET unsubscribed_via = 'link' WHERE unsubscribed_at IS NOT NULL")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=True))
    # Sends made before attributes were kept per send report as they did: under their
    # contact's attributes of today.
    op.execute("UPDATE invitations SET attributes = (SELECT contacts.attributes FROM contacts "
               "WHERE contacts.id = invitations.contact_id)")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.alter_column('attributes', existing_type=sa.JSON(), nullable=False,
                              server_default='{}')


def downgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_constraint('uq_responses_campaign_submission', type_='unique')
        batch_op.drop_column('submission_key')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('attributes')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_via')
