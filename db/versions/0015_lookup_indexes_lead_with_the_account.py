"""lookup indexes lead with the account

Revision 0014 gave the unique keys the account as their first column. SQLite's planner,
which has no statistics here, then took an (account_id, ...) unique index for queries
that filter by the account and by a column of another index — GetContactResults walked
every response of the account, a campaign's latest send of a contact every send of the
campaign. The lookup indexes now lead with the account too, so the index that matches
the most columns of a query is the one that is meant for it (and on Citus every index
of a distributed table starts with its distribution column).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

#: (index, table, columns before, columns after)
INDEXES = [
    ('ix_invitations_campaign_contact', 'invitations', ['campaign_id', 'contact_id', 'created_at'],
     ['account_id', 'campaign_id', 'contact_id', 'created_at']),
    ('ix_responses_campaign_position', 'responses', ['campaign_id', 'position'],
     ['account_id', 'campaign_id', 'position']),
    ('ix_responses_contact', 'responses', ['contact_id', 'submitted_at'],
     ['account_id', 'contact_id', 'campaign_id', 'submitted_at']),
    ('ix_dump_files_campaign', 'dump_files', ['campaign_id', 'created_at'],
     ['account_id', 'campaign_id', 'created_at']),
]


def _recreate(new: bool) -> None:
    for name, table, before, after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after if new else before, unique=False)


def upgrade() -> None:
    _recreate(new=True)


def downgrade() -> None:
    _recreate(new=False)
