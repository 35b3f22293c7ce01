"""Company self-registration (confirmed automatically, as the seeds describe): the company and its first
account in one transaction, audited."""

from __future__ import annotations

from sqlalchemy import Connection, insert

from cloud.auth import Principal, create_account
from cloud.store import schema
from cloud.store.db import utcnow
from cloud.trips import audit


def register_company(conn: Connection, *, company_name: str, tax_code: str, username: str, password: str,
                     display_name: str) -> tuple[int, int]:
    """(company id, account id); a taken tax code or username raises IntegrityError."""
    company_id = int(conn.execute(insert(schema.companies).values(
        name=company_name, tax_code=tax_code, created_at=utcnow()).returning(schema.companies.c.id)).scalar_one())
    account_id = create_account(conn, username, password, "company", display_name, company_id=company_id)
    audit(conn, Principal(role="company", account_id=account_id), "company_registered", str(company_id),
          {"name": company_name})
    return company_id, account_id
