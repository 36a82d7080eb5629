"""Import and export pages: upload a workbook, preview it, confirm it; download finance's workbook.

The import runs the CLI's engine (cocon.workbook.importer) inside the request's scope: first as
a dry run whose report is the preview, then for real once confirmed. Between the two the file
waits on the server under a random token (cocon.web.uploads), bound to the scope it was
previewed in. Neither step holds up the office's other saves while it reads and checks: the
preview only reads the database (the dry run writes to a private copy on SQLite) and keeps the
upload in a short write at the end; the confirmation takes the write lock once the upload is
read, for the import itself. The export is cocon.workbook.exporter's workbook of the request's scope, year and
the project list's filters.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath
from litestar.response import Redirect, Stream, Template
from sqlmodel import Session

from cocon import db
from cocon.checks import Policies
from cocon.errors import Invalid, Refused
from cocon.i18n import _, current_language
from cocon.models import Org
from cocon.project_list import parse_project_filters
from cocon.rights import Right, may
from cocon.web.auth import current_account, needs, record_apart
from cocon.web.errors import error_page
from cocon.web.projects import FORM_PAGE, scoped_url
from cocon.web.scope import current_scope
from cocon.web.uploads import Upload, UploadStore, as_file, clean_name, read_limited
from cocon.workbook.exporter import export_workbook
from cocon.workbook.importer import ImportReport, WorkbookRejected, dry_run, import_source
from cocon.workbook.marking import mark_errors
from cocon.workbook.safety import MAX_UPLOAD_BYTES, MiB
from cocon.workbook.template import write_template

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The workbook may be as large as the safety checks allow; the rest of the form is tiny.
MAX_BODY = MAX_UPLOAD_BYTES + MiB
PROBLEMS_SHOWN = 1000
WARNINGS_SHOWN = 50
FIELD = "workbook"
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def upload_store(request: Request, session: Session) -> UploadStore:
    """Return the store of waiting uploads in the request's session, with the quotas."""
    settings = request.app.state.settings
    return UploadStore(
        session, quota=settings.upload_quota_mb * MiB, total=settings.upload_total_mb * MiB
    )


def attachment(fallback: str, name: str) -> dict[str, str]:
    """Return the header that downloads a file as name (fallback for clients without RFC 5987)."""
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return {"content-disposition": disposition}


def shown_value(value: object) -> str:
    """Show a cell's value as the user typed it, more or less."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# --- import ---------------------------------------------------------------------------------


def upload_context(scope: Org, error: str | None = None) -> dict:
    """Gather what the upload page shows."""
    return {"scope": scope, "error": error, "limit": MAX_UPLOAD_BYTES // MiB}


def preview_context(request: Request, scope: Org, upload: Upload, report: ImportReport) -> dict:
    """Gather what the preview shows: per sheet counts, every problem, the warnings."""
    problems = report.all_problems
    base = f"/import/{upload.token}"
    totals = {
        key: sum(getattr(sheet, key) for sheet in report.sheets)
        for key in ("created", "updated", "unchanged")
    }
    return {
        "scope": scope,
        "upload": upload,
        "report": report,
        "problems": [
            (problem, shown_value(report.value_of(problem)))
            for problem in problems[:PROBLEMS_SHOWN]
        ],
        "problem_count": len(problems),
        "warnings": report.warnings[:WARNINGS_SHOWN],
        "warning_count": report.warning_count,
        "confirm_url": scoped_url(request, f"{base}/confirm"),
        "errors_url": scoped_url(request, f"{base}/errors.xlsx"),
        "totals": totals,
        # Nothing to create or update: there is nothing to confirm either.
        "changes": totals["created"] + totals["updated"],
    }


def result_of(upload: Upload, report: ImportReport) -> dict:
    """Return what an import did, to show once it is done."""
    return {
        "name": upload.name,
        "sheets": [
            {
                "title": sheet.title,
                "created": sheet.created,
                "updated": sheet.updated,
                "unchanged": sheet.unchanged,
            }
            for sheet in report.sheets
        ],
        "ignored_sheets": report.ignored_sheets,
        "warnings": [finding.message for finding in report.warnings[:WARNINGS_SHOWN]],
        "warning_count": report.warning_count,
    }


@get("/import", name="import_page", sync_to_thread=True, opt=needs(Right.IMPORT, **FORM_PAGE))
def import_page(request: Request, session: NamedDependency[Session]) -> Template:
    """Show the upload form, the template download and how an import goes."""
    scope = current_scope(request, session)
    return Template("import/upload.html", context=upload_context(scope))


@get("/import/template.xlsx", name="import_template", sync_to_thread=True, opt=needs(Right.IMPORT))
def import_template(request: Request, session: NamedDependency[Session]) -> Response:
    """Download the import workbook in the request's language."""
    current_scope(request, session)  # like every page: an org outside reads as not found
    buffer = BytesIO()
    language = current_language()
    write_template(buffer, language=language)
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers=attachment(
            f"cocon-import-template-{language}.xlsx", _("cocon import template.xlsx")
        ),
    )


def _read_upload(data: dict[str, Any]) -> UploadFile | None:
    upload = data.get(FIELD)
    if isinstance(upload, list):  # the field sent twice: take the first file
        upload = next((item for item in upload if isinstance(item, UploadFile)), None)
    if not isinstance(upload, UploadFile) or not (upload.filename or "").strip():
        return None
    return upload


@post(
    "/import",
    name="import_upload",
    sync_to_thread=True,
    request_max_body_size=MAX_BODY,
    opt=needs(Right.IMPORT, late_write=True),
)
def import_upload(
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: Multipart,
) -> Template:
    """Preview the upload (what the import would do, every problem, the warnings) and keep it.

    The preview only reads the database (cocon.workbook.importer.dry_run); keeping the upload
    is a short write of its own at the end.
    """
    scope = current_scope(request, session)
    received = _read_upload(data)
    if received is None:
        context = upload_context(scope, _("Choose a workbook (.xlsx) to upload."))
        return Template("import/upload.html", context=context, status_code=400)
    content = read_limited(received.file, MAX_UPLOAD_BYTES)
    name = clean_name(received.filename)
    try:
        with as_file(content) as path:
            report = dry_run(session, path, policies, scope=scope, name=name)
    except Invalid as error:  # unreadable or hostile: nothing to preview, nothing to keep
        context = upload_context(scope, error.message)
        return Template("import/upload.html", context=context, status_code=400)
    db.begin_writing(session)
    store = upload_store(request, session)
    try:
        upload = store.save(content, name, scope.code, current_account(request).id)
    except Refused as error:
        session.rollback()
        context = upload_context(scope, error.message)
        return Template("import/upload.html", context=context, status_code=409)
    store.keep_problems(upload, report.all_problems)
    return Template("import/preview.html", context=preview_context(request, scope, upload, report))


def _waiting(request: Request, session: Session, token: str):
    scope = current_scope(request, session)
    store = upload_store(request, session)
    return scope, store, store.get(token, scope.code, current_account(request).id)


@post(
    "/import/{token:str}/confirm",
    name="import_confirm",
    sync_to_thread=True,
    opt=needs(Right.IMPORT, late_write=True),
)
def import_confirm(
    token: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
) -> Template | Redirect:
    """Import a previewed upload for real (every row or none), then show what it did."""
    scope, store, upload = _waiting(request, session, token)
    done = Redirect(scoped_url(request, f"/import/{upload.token}/done"), status_code=303)
    if upload.imported:  # sent twice: the first one did it
        return done
    content = store.content(upload)
    # The write starts here; its lock (a row lock on PostgreSQL) makes a second confirmation of
    # the same upload wait for the first, which the check below then sees.
    db.begin_writing(session)
    upload = store.get(token, scope.code, current_account(request).id, lock=True)
    if upload.imported:
        return done
    try:
        with as_file(content) as path:
            report = import_source(session, path, policies, scope=scope, name=upload.name)
    except WorkbookRejected as rejected:  # the data changed since the preview
        session.rollback()
        store.keep_problems(upload, rejected.problems)
        context = preview_context(request, scope, upload, rejected.report)
        return Template("import/preview.html", context=context, status_code=409)
    store.finish(upload, result_of(upload, report))
    return done


@get("/import/{token:str}/done", name="import_done", sync_to_thread=True, opt=needs(Right.IMPORT))
def import_done(
    token: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show what a confirmed import did."""
    scope, store, upload = _waiting(request, session, token)
    result = store.result(upload)
    totals = {
        key: sum(sheet[key] for sheet in result["sheets"])
        for key in ("created", "updated", "unchanged")
    }
    context = {"scope": scope, "result": result, "totals": totals, "shown": WARNINGS_SHOWN}
    return Template("import/done.html", context=context)


@get("/import/{token:str}/errors.xlsx", name="import_errors", sync_to_thread=True, opt=needs(Right.IMPORT))
def import_errors(
    token: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Response:
    """Download the previewed workbook with each problem's cell filled red and explained."""
    _scope, store, upload = _waiting(request, session, token)
    if upload.imported:
        raise Invalid(_("This workbook was imported: it has no problems to mark"))
    with as_file(store.content(upload)) as path:
        marked = path.with_name("errors.xlsx")
        mark_errors(path, marked, store.problems(upload))
        content = marked.read_bytes()
    stem = Path(upload.name).stem
    return Response(
        content,
        media_type=XLSX,
        headers=attachment("cocon-import-errors.xlsx", _("{name} (errors).xlsx").format(name=stem)),
    )


def too_large(request: Request, _error: RequestEntityTooLarge) -> Response:
    """Say what the limit is when an upload is larger than any workbook the import takes."""
    message = _("The file is too large; the limit is {limit} MB").format(
        limit=MAX_UPLOAD_BYTES // MiB
    )
    return error_page(request, 413, message)


# --- export ---------------------------------------------------------------------------------


def _chunks(handle: IO[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()


@get("/export", name="export", sync_to_thread=True, opt=needs(Right.EXPORT))
def export(
    request: Request, session: NamedDependency[Session], policies: NamedDependency[Policies]
) -> Stream:
    """Download finance's workbook of the scope, the year and the project list's filters."""
    scope = current_scope(request, session)
    filters, _page, errors = parse_project_filters(session, scope, request.query_params)
    if errors:
        raise Invalid("; ".join(errors.values()))
    year = filters.year
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    record_apart(request, "export", "workbook", code=scope.code, org_id=scope.id, details=query)
    # End the reads above so the export opens its own snapshot (REPEATABLE READ on PostgreSQL).
    session.rollback()
    # An unnamed temporary file: nothing is left behind however the download ends.
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - _chunks closes it once sent
    try:
        export_workbook(
            session,
            handle,
            root=scope,
            year=year,
            language=current_language(),
            projects_filter=replace(filters, year=None),
            policies=policies,
            with_contacts=may(current_account(request).role, Right.SEE_CONTACTS),
        )
        size = handle.seek(0, 2)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    when = str(year) if year is not None else _("all years")
    headers = attachment(
        f"cocon-{scope.code}-{year or 'all'}.xlsx", f"{scope.name}-{scope.code}-{when}.xlsx"
    )
    return Stream(
        _chunks(handle), media_type=XLSX, headers={**headers, "content-length": str(size)}
    )


ROUTES = [
    import_page,
    import_template,
    import_upload,
    import_confirm,
    import_done,
    import_errors,
    export,
]


def router() -> Router:
    """Group the import and export routes (one registration per path: see projects.router)."""
    return Router(
        path="/",
        route_handlers=ROUTES,
        exception_handlers={RequestEntityTooLarge: too_large},
    )
