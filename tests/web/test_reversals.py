"""Reversing a wrong payment or funding line from a project's funding page, with a reason."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from cocon import db
from cocon.models import FundingLine, Payment, Project
from tests.web.conftest import SIGNED_IN, sign_in, use_session
from tests.web.forms import csrf_token, field_error
from tests.web.test_audit import trail

PROJECT = "GS-2023-028"  # owned by the district, drawing 50,000 on GS-2023, paid 15,000
VOUCHER = "GS2023-0061"
PAYMENT_FORM = f"/projects/{PROJECT}/payments/{VOUCHER}/reverse"
LINE_FORM = f"/projects/{PROJECT}/funding/GS-2023/reverse"



def _project(session):
    """Return the project the tests reverse money of."""
    return session.execute(select(Project).where(Project.code == PROJECT)).scalar_one()


def _count(session, model) -> int:
    """Count the reversed rows of a table."""
    statement = select(func.count()).select_from(model).where(model.reversed_at.is_not(None))
    return session.execute(statement).scalar_one()


def read(url: str, query):
    """Run query(session) on the database at url, outside the app."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return query(session)
    finally:
        engine.dispose()


def as_user(client, username: str, backend: str):
    """Sign client in as username (reusing the demo's session where there is one)."""
    if username in SIGNED_IN[backend]:
        return use_session(client, username, backend)
    client.cookies.clear()
    sign_in(client, username)
    return client


def _paid(url: str) -> int:
    return read(url, lambda s: _project(s).paid_fen)


def _post(client, path: str, reason: str):
    token = csrf_token(client, "/account")  # one token per session; a reversed entry has no form
    return client.post(path, data={"reason": reason, "_csrf_token": token}, follow_redirects=False)


def test_the_funding_page_offers_reverse_buttons_to_those_who_may(fresh_app, backend):
    admin = as_user(fresh_app, "gongshu-admin", backend).get(f"/projects/{PROJECT}/funding?lang=en")
    assert PAYMENT_FORM in admin.text and LINE_FORM in admin.text
    finance = as_user(fresh_app, "gongshu-finance", backend).get(f"/projects/{PROJECT}/funding")
    assert PAYMENT_FORM in finance.text and LINE_FORM not in finance.text
    office = as_user(fresh_app, "gongshu-office", backend).get(f"/projects/{PROJECT}/funding")
    assert PAYMENT_FORM not in office.text and LINE_FORM in office.text
    viewer = as_user(fresh_app, "gongshu-viewer", backend).get(f"/projects/{PROJECT}/funding?lang=zh_CN")
    assert "/reverse" not in viewer.text and "冲销" not in viewer.text


def test_reversing_a_payment_keeps_it_listed_and_drops_paid(fresh_client, fresh_url):
    form = fresh_client.get(PAYMENT_FORM + "?lang=en")
    assert form.status_code == 200 and "Reason for the reversal" in form.text
    before = _paid(fresh_url)
    response = _post(fresh_client, PAYMENT_FORM, "凭证号录错")
    assert response.status_code == 303 and "done=reversed" in response.headers["location"]
    assert _paid(fresh_url) == before - 1500000
    page = fresh_client.get(f"/projects/{PROJECT}/funding?lang=zh_CN").text
    assert 'class="reversed"' in page and "<del>¥15,000.00</del>" in page
    assert "凭证号录错" in page and "gongshu-admin" in page and "已冲销" in page
    assert PAYMENT_FORM not in page  # not twice
    again = _post(fresh_client, PAYMENT_FORM + "?lang=en", "再次")
    assert again.status_code == 400 and "already reversed" in again.text
    (entry,) = [e for e in trail(fresh_url) if e.action == "reversal"]
    assert entry.actor == "gongshu-admin" and entry.entity_code == VOUCHER
    assert json.loads(entry.changes)["reversal_reason"] == [None, "凭证号录错"]


def test_a_refusal_saves_nothing(fresh_client, fresh_url):
    paid, entries = _paid(fresh_url), len(trail(fresh_url))
    empty = _post(fresh_client, PAYMENT_FORM + "?lang=en", "   ")
    assert empty.status_code == 400 and field_error(empty.text, "reason") == "This field is required"
    still_paid = _post(fresh_client, LINE_FORM + "?lang=en", "错配")
    assert still_paid.status_code == 400 and "reverse its payments first" in still_paid.text
    assert 'value="错配"' in still_paid.text  # the reason is kept in the form
    assert _paid(fresh_url) == paid and len(trail(fresh_url)) == entries
    reversed_rows = read(
        fresh_url,
        lambda s: _count(s, Payment) + _count(s, FundingLine),
    )
    assert reversed_rows == 0


def test_reversing_the_line_after_its_payments_and_drawing_again(fresh_client, fresh_url):
    vouchers = read(
        fresh_url,
        lambda s: [
            p.voucher_no
            for (p,) in s.execute(
                select(Payment)
                .join(FundingLine, Payment.funding_line_id == FundingLine.id)
                .join(Project, FundingLine.project_id == Project.id)
                .where(Project.code == PROJECT)
            )
        ],
    )
    for voucher in vouchers:
        path = f"/projects/{PROJECT}/payments/{voucher}/reverse"
        assert _post(fresh_client, path, "整笔冲销").status_code == 303
    before = len(trail(fresh_url))
    assert _post(fresh_client, LINE_FORM, "资金来源录错").status_code == 303
    added = trail(fresh_url)[before:]
    assert [e.action for e in added if e.entity == "funding_line"] == ["reversal"]
    assert all(e.actor == "gongshu-admin" and e.hash for e in added)
    project = read(fresh_url, _project)
    assert (project.drawn_l3_fen, project.paid_fen) == (0, 0)
    page = fresh_client.get(f"/projects/{PROJECT}/funding?lang=en").text
    assert "<del>¥50,000.00</del>" in page and "Draw again" in page and "资金来源录错" in page
    pay_form = fresh_client.get(f"/projects/{PROJECT}/pay?lang=en").text
    assert "GS-2023 ·" not in pay_form  # a reversed line takes no payment
    token = csrf_token(fresh_client, f"/projects/{PROJECT}/draw")
    drawn = fresh_client.post(
        f"/projects/{PROJECT}/draw",
        data={"allocation": "GS-2023", "amount": "2万", "_csrf_token": token},
        follow_redirects=False,
    )
    assert drawn.status_code == 303
    project = read(fresh_url, _project)
    assert project.drawn_l3_fen == 2000000


def test_roles_without_the_right_get_403_and_outside_reads_as_not_found(fresh_app, backend):
    office = as_user(fresh_app, "gongshu-office", backend)
    assert office.get(PAYMENT_FORM).status_code == 403
    finance = as_user(fresh_app, "gongshu-finance", backend)
    assert finance.get(LINE_FORM).status_code == 403
    viewer = as_user(fresh_app, "gongshu-viewer", backend)
    assert viewer.get(PAYMENT_FORM).status_code == viewer.get(LINE_FORM).status_code == 403
    token = viewer.cookies.get("csrftoken") or ""
    assert viewer.post(PAYMENT_FORM, data={"reason": "x", "_csrf_token": token}).status_code == 403
    street = as_user(fresh_app, "wenhui-admin", backend)
    # GS2023-0016 is paid from the city's HZ-2023: not the street's to reverse.
    assert street.get("/projects/GS-2023-005/payments/GS2023-0016/reverse").status_code == 404
