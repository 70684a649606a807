"""product features of issue 14: attributes per send, the source of an opt-out, open-link
submission keys, survey versions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ids as revision 0009 made them: 64-bit on PostgreSQL, rowid integers on SQLite
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table('survey_versions',
    sa.Column('account_id', id_type, nullable=False),
    sa.Column('survey_id', id_type, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('thank_you', sa.Text(), nullable=False),
    sa.Column('allow_language_override', sa.Boolean(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_survey_versions_account_id_accounts')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_versions_survey_id_surveys')),
    sa.PrimaryKeyConstraint('account_id', 'survey_id', 'version', name=op.f('pk_survey_versions'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_version', sa.Integer(), server_default='1', nullable=False))
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=43), nullable=True))
        batch_op.create_unique_constraint('uq_responses_campaign_submission',
                                          ['campaign_id', 'submission_key'])
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsubscribed_via', sa.String(length=16), nullable=True))
    op.execute("UPDATE contacts SET unsubscribed_via = 'link' WHERE unsubscribed_at IS NOT NULL")
    # NOT NULL with a default from the start: SQLite adds such a column in place, where
    # changing it afterwards would rebuild the table that history rows refer to.
    op.add_column('invitations', sa.Column('attributes', sa.JSON(), nullable=False,
                                           server_default='{}'))
    # Sends made before attributes were kept per send report as they did: under their
    # contact's attributes of today.
    op.execute("UPDATE invitations SET attributes = (SELECT contacts.attributes FROM contacts "
               "WHERE contacts.account_id = invitations.account_id "
               "AND contacts.id = invitations.contact_id)")


def downgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_column('survey_version')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_column('version')
    op.drop_table('survey_versions')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_constraint('uq_responses_campaign_submission', type_='unique')
        batch_op.drop_column('submission_key')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('attributes')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_via')
