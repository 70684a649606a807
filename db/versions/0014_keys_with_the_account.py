"""the account in every key, and the directory

Every primary key, unique constraint and foreign key of an account's rows contains
account_id, as a table distributed by account requires (docs/scale.md):

- PostgreSQL: primary keys (account_id, id). SQLite keeps its lone rowid primary key
  (its only autoincrementing column) and gets a unique (account_id, id) index on the
  tables that composite foreign keys refer to, as SQLite requires of a parent key.
- Foreign keys between an account's tables become (account_id, x_id) -> (account_id, id).
- Unique constraints lead with account_id. The global uniqueness of API key ids and
  campaign public ids moves to `directory` (a reference table), filled here from the
  rows; a non-unique index on invitations.nonce serves tokens issued before tokens
  named their account.
- The (account_id, id) indexes of surveys and campaigns are the keys' now; so is
  outbox's on PostgreSQL (SQLite keeps it for the account's newest-first list).

On SQLite the tables are rebuilt (batch mode) with foreign keys off, as SQLite's own
procedure prescribes; service.storage.migrations.upgrade checks them before committing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: Account-owned tables whose own id comes from a sequence.
SEQUENCED = ['api_keys', 'surveys', 'campaigns', 'contacts', 'invitations', 'responses',
             'audit_log', 'attribute_definitions', 'contact_lists', 'invitation_events',
             'dump_files', 'outbox']
#: (table, column, parent) of every foreign key between account-owned tables.
REFERENCES = [
    ('survey_versions', 'survey_id', 'surveys'),
    ('campaigns', 'survey_id', 'surveys'),
    ('invitations', 'campaign_id', 'campaigns'),
    ('invitations', 'contact_id', 'contacts'),
    ('responses', 'campaign_id', 'campaigns'),
    ('responses', 'invitation_id', 'invitations'),
    ('responses', 'contact_id', 'contacts'),
    ('list_members', 'list_id', 'contact_lists'),
    ('list_members', 'contact_id', 'contacts'),
    ('invitation_events', 'invitation_id', 'invitations'),
    ('export_cursors', 'campaign_id', 'campaigns'),
    ('dump_files', 'campaign_id', 'campaigns'),
]
PARENTS = sorted({parent for _, _, parent in REFERENCES})
#: (table, columns, name before, name after) of the unique constraints that gain the account.
UNIQUE = [
    ('api_keys', ['key_id'], 'uq_api_keys_key_id', 'uq_api_keys_account_key_id'),
    ('campaigns', ['public_id'], 'uq_campaigns_public_id', 'uq_campaigns_account_public_id'),
    ('invitations', ['nonce'], 'uq_invitations_nonce', 'uq_invitations_account_nonce'),
    ('invitations', ['campaign_id', 'event_id'], 'uq_invitations_campaign_event',
     'uq_invitations_account_campaign_event'),
    ('responses', ['invitation_id'], 'uq_responses_invitation_id',
     'uq_responses_account_invitation'),
    ('responses', ['campaign_id', 'submission_key'], 'uq_responses_campaign_submission',
     'uq_responses_account_campaign_submission'),
    ('outbox', ['idempotency_key'], 'uq_outbox_idempotency_key',
     'uq_outbox_account_idempotency_key'),
]
#: The (account_id, id) indexes the keys replace: (table, name).
ACCOUNT_INDEXES = [('surveys', 'ix_surveys_account'), ('campaigns', 'ix_campaigns_account'),
                   ('outbox', 'ix_outbox_account')]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def _rekey(with_account: bool) -> None:
    """Foreign keys, unique constraints and (PostgreSQL) primary keys with the account
    (``with_account``) or without it, as revision 0013 had them."""
    lead = ['account_id'] if with_account else []
    postgresql = _postgresql()
    if postgresql:
        # A primary key cannot change while foreign keys depend on it.
        for table, column, parent in REFERENCES:
            op.drop_constraint(f'fk_{table}_{column}_{parent}', table, type_='foreignkey')
        for table in SEQUENCED:
            op.drop_constraint(f'pk_{table}', table, type_='primary')
            op.create_primary_key(f'pk_{table}', table, [*lead, 'id'])
    elif with_account:
        for parent in PARENTS:
            op.create_index(f'uq_{parent}_account_id_id', parent, ['account_id', 'id'],
                            unique=True)
    for name in sorted({table for table, _, _ in REFERENCES} | {table for table, *_ in UNIQUE}):
        # One rebuild of each table on SQLite.
        with op.batch_alter_table(name) as batch:
            for table, column, parent in REFERENCES:
                if table == name:
                    if not postgresql:
                        batch.drop_constraint(f'fk_{table}_{column}_{parent}', type_='foreignkey')
                    batch.create_foreign_key(f'fk_{table}_{column}_{parent}', parent,
                                             [*lead, column], [*lead, 'id'])
            for table, columns, before, after in UNIQUE:
                if table == name:
                    batch.drop_constraint(before if with_account else after, type_='unique')
                    batch.create_unique_constraint(after if with_account else before,
                                                   [*lead, *columns])
    if not postgresql and not with_account:
        for parent in PARENTS:
            op.drop_index(f'uq_{parent}_account_id_id', parent)


def upgrade() -> None:
    _rekey(with_account=True)
    for table, name in ACCOUNT_INDEXES:
        if table != 'outbox' or _postgresql():
            op.drop_index(name, table)
    op.create_index('ix_invitations_nonce', 'invitations', ['nonce'])
    id_type = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'directory',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('identifier', sa.String(length=64), nullable=False),
        sa.Column('account_id', id_type, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_directory_account_id_accounts')),
        sa.PrimaryKeyConstraint('kind', 'identifier', name=op.f('pk_directory')))
    op.execute("INSERT INTO directory (kind, identifier, account_id) "
               "SELECT 'key', key_id, account_id FROM api_keys")
    op.execute("INSERT INTO directory (kind, identifier, account_id) "
               "SELECT 'campaign', public_id, account_id FROM campaigns")


def downgrade() -> None:
    op.drop_table('directory')
    op.drop_index('ix_invitations_nonce', 'invitations')
    for table, name in ACCOUNT_INDEXES:
        if table != 'outbox' or _postgresql():
            op.create_index(name, table, ['account_id', 'id'])
    _rekey(with_account=False)
