"""Personal API tokens: made and revoked on /account and by the CLI, shown once, stored hashed,
with a last use written at most once a minute, an expiry, and an end when the owner's rights
or password change."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from cocon import db
from cocon.audit_model import AuditEntry
from cocon.tokens import LAST_USED_EVERY, PREFIX, digest
from cocon.user_models import ApiToken
from cocon.users import get_user, now_utc, set_password, set_role
from tests.conftest import Cli
from tests.web.forms import csrf_token, field_error

ORG = "/api/v1/orgs/330105"


def bearer(secret: str) -> dict[str, str]:
    """Return the headers of an API request with secret."""
    return {"Authorization": f"Bearer {secret}"}


def sign_in_as_admin(api) -> None:
    """Give the client the Gongshu admin's browser session."""
    api.client.cookies.clear()
    api.client.cookies.update(api.tokens.cookies)


def make_on_account_page(api, name: str, expires_on: str = "") -> tuple[int, str]:
    """Make a token on /account; return the status and the page."""
    token = csrf_token(api.client, "/account")
    response = api.client.post(
        "/account/tokens?lang=en", data={"name": name, "expires_on": expires_on, "_csrf_token": token}
    )
    return response.status_code, response.text


def test_token_made_on_account_page_is_shown_once_and_works(api):
    sign_in_as_admin(api)
    status, page = make_on_account_page(api, "nightly report")
    assert status == 200
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page)[1]
    assert secret.startswith(PREFIX) and len(secret) > 40
    again = api.client.get("/account").text
    assert secret not in again and "nightly report" in again and secret[:12] in again
    row = api.token_row(secret)
    assert row.digest == digest(secret) and secret not in (row.digest, row.hint, row.name)
    api.client.cookies.clear()
    response = api.client.get(ORG, headers=bearer(secret))
    assert response.status_code == 200 and response.json()["name"] == "拱墅区"


def test_token_form_errors_show_beside_fields_and_make_nothing(api):
    sign_in_as_admin(api)
    status, page = make_on_account_page(api, "", "2001-01-01")
    assert status == 400
    assert field_error(page, "token_name") == "This field is required"
    status, page = make_on_account_page(api, "old", "2001-01-01")
    assert status == 400 and field_error(page, "token_expires_on") == "Choose a day after today"
    with db.session_scope(api.engine) as session:
        names = session.execute(select(ApiToken.name)).scalars().all()
    assert "old" not in names


def test_token_revoked_on_account_page_stops_at_once(api):
    sign_in_as_admin(api)
    _status, page = make_on_account_page(api, "to revoke")
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page)[1]
    token_id = api.token_row(secret).id
    form = csrf_token(api.client, "/account")
    response = api.client.post(
        f"/account/tokens/{token_id}/revoke", data={"_csrf_token": form}, follow_redirects=False
    )
    assert response.status_code == 303
    api.client.cookies.clear()
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 401
    assert api.token_row(secret).revoked_at is not None


def test_a_user_cannot_revoke_anothers_token(api):
    office_token = api.token_row(api.tokens.by_role["office"])
    sign_in_as_admin(api)
    form = csrf_token(api.client, "/account")
    response = api.client.post(f"/account/tokens/{office_token.id}/revoke", data={"_csrf_token": form})
    assert response.status_code == 404
    assert api.client.get(ORG, headers=bearer(api.tokens.by_role["office"])).status_code == 200


def test_token_create_and_revoke_are_in_the_audit_trail(api):
    sign_in_as_admin(api)
    _status, page = make_on_account_page(api, "audited")
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page)[1]
    form = csrf_token(api.client, "/account")
    api.client.post(f"/account/tokens/{api.token_row(secret).id}/revoke", data={"_csrf_token": form})
    with db.session_scope(api.engine) as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.entity_code).where(
                AuditEntry.entity == "api_token", AuditEntry.entity_code == "audited"
            )
        ).all()
    assert sorted(rows) == [
        ("token_created", "gongshu-admin", "audited"),
        ("token_revoked", "gongshu-admin", "audited"),
    ]
    assert secret not in str(rows)


def test_last_use_is_written_at_most_once_a_minute(api):
    secret = api.tokens.by_role["viewer"]
    before = api.data_revision()
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 200
    first = api.token_row(secret).last_used_at
    assert first is not None
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 200
    assert api.token_row(secret).last_used_at == first  # within the minute: not written again
    with db.session_scope(api.engine, write=True, data=False) as session:
        row = session.execute(select(ApiToken).where(ApiToken.digest == digest(secret))).scalar_one()
        row.last_used_at = now_utc() - LAST_USED_EVERY - timedelta(seconds=1)
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 200
    assert api.token_row(secret).last_used_at.replace(tzinfo=None) > first.replace(tzinfo=None)
    assert api.data_revision() == before  # a use changes no data: pages kept stay valid


def test_token_ends_when_the_owner_password_or_role_changes(api):
    office, finance = api.tokens.by_role["office"], api.tokens.by_role["finance"]
    with db.session_scope(api.engine, write=True) as session:
        set_password(session, get_user(session, "gongshu-office"), "another long passphrase here")
        set_role(session, get_user(session, "gongshu-finance"), "viewer")
    assert api.client.get(ORG, headers=bearer(office)).status_code == 401
    assert api.client.get(ORG, headers=bearer(finance)).status_code == 401
    assert api.client.get(ORG, headers=bearer(api.tokens.by_role["admin"])).status_code == 200


def test_failed_tokens_from_one_address_are_throttled_with_retry_after(api):
    from cocon.api.auth import MAX_FAILED_TOKENS_PER_ADDRESS

    wrong = bearer(PREFIX + "y" * 43)
    for _ in range(MAX_FAILED_TOKENS_PER_ADDRESS):
        assert api.client.get(ORG, headers=wrong).status_code == 401
    response = api.client.get(ORG, headers=bearer(api.tokens.by_role["admin"]))
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"] == "application/problem+json"


def test_cli_token_create_list_revoke(api):
    cli = Cli(api.url)
    result = cli("users", "token-create", "gongshu-finance", "--name", "ledger sync", "--expires", "2099-12-31")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith(PREFIX)
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 200
    listed = cli.ok("users", "token-list", "gongshu-finance")
    assert "ledger sync" in listed and "active" in listed and secret not in listed
    assert "2100-01-01" in listed  # valid through 2099-12-31 in China time
    cli.ok("users", "token-revoke", "gongshu-finance", "ledger sync")
    assert api.client.get(ORG, headers=bearer(secret)).status_code == 401
    assert "revoked" in cli.ok("users", "token-list", "gongshu-finance")
    missing = cli("users", "token-revoke", "gongshu-finance", "nothing")
    assert missing.exit_code != 0


def test_api_answers_set_no_cookie_and_ignore_the_session(api):
    sign_in_as_admin(api)
    with_cookie = api.client.get(ORG, headers=bearer(api.tokens.by_role["viewer"]))
    assert with_cookie.status_code == 200 and "set-cookie" not in with_cookie.headers
    refused = api.client.patch(
        "/api/v1/projects/GS-2023-028",
        json={"version": 1, "name": "by a viewer with an admin's cookie"},
        headers=bearer(api.tokens.by_role["viewer"]),
    )
    assert refused.status_code == 403  # the token's role counts, not the session's
