"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('response_position', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('name', name=op.f('uq_accounts_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=100), nullable=False),
    sa.Column('label', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_keys_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('crm_id', sa.String(length=100), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('unsubscribed_at', sa.DateTime(), nullable=True),
    sa.Column('erased_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_contacts_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('account_id', 'email', name='uq_contacts_account_email')
    )
    op.create_index('ix_contacts_account_crm', 'contacts', ['account_id', 'crm_id'], unique=False)

    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('intro', sa.Text(), server_default='', nullable=False),
    sa.Column('thank_you', sa.Text(), server_default='', nullable=False),
    sa.Column('allow_language_override', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_surveys_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys'))
    )
    op.create_index('ix_surveys_account', 'surveys', ['account_id', 'id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('send_delay_minutes', sa.Integer(), nullable=False),
    sa.Column('reminder_days', sa.Integer(), nullable=False),
    sa.Column('max_reminders', sa.Integer(), nullable=False),
    sa.Column('quarantine_days', sa.Integer(), nullable=False),
    sa.Column('quarantine_scope', sa.String(length=16), nullable=False),
    sa.Column('link_valid_days', sa.Integer(), nullable=False),
    sa.Column('recurrence_days', sa.Integer(), nullable=False),
    sa.Column('templates', sa.JSON(), nullable=False),
    sa.Column('notify_emails', sa.JSON(), nullable=False),
    sa.Column('notify_on', sa.String(length=16), nullable=False),
    sa.Column('crm_push', sa.Boolean(), nullable=False),
    sa.Column('crm_tag', sa.String(length=100), nullable=False),
    sa.Column('webhooks', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_campaigns_account_id_accounts')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_campaigns_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('public_id', name=op.f('uq_campaigns_public_id'))
    )
    op.create_index('ix_campaigns_account', 'campaigns', ['account_id', 'id'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('send_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_invitations_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_invitations_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_invitations_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('campaign_id', 'event_id', name='uq_invitations_campaign_event'),
    sa.UniqueConstraint('nonce', name=op.f('uq_invitations_nonce'))
    )
    op.create_index('ix_invitations_account_contact', 'invitations', ['account_id', 'contact_id', 'created_at'], unique=False)
    op.create_index('ix_invitations_campaign_contact', 'invitations', ['campaign_id', 'contact_id', 'created_at'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('extra_params', sa.JSON(), nullable=False),
    sa.Column('nps_score', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_responses_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_responses_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_responses_contact_id_contacts')),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_responses_invitation_id_invitations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_responses_invitation_id'))
    )
    op.create_index('ix_responses_campaign_position', 'responses', ['campaign_id', 'position'], unique=False)
    op.create_index('ix_responses_contact', 'responses', ['contact_id', 'submitted_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_responses_contact', table_name='responses')
    op.drop_index('ix_responses_campaign_position', table_name='responses')
    op.drop_table('responses')
    op.drop_index('ix_invitations_campaign_contact', table_name='invitations')
    op.drop_index('ix_invitations_account_contact', table_name='invitations')
    op.drop_table('invitations')
    op.drop_index('ix_campaigns_account', table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_index('ix_surveys_account', table_name='surveys')
    op.drop_table('surveys')
    op.drop_index('ix_contacts_account_crm', table_name='contacts')
    op.drop_table('contacts')
    op.drop_table('api_keys')
    op.drop_table('accounts')
