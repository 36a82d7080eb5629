"""The Checks sheet's rows: cocon.findings.failing_rows, streamed rule by rule
(stream_failing_rows), so memory stays flat however many checks fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cocon.findings import count_failing, stream_failing_rows
from cocon.workbook.export_layout import CHECKS, RULE_NAMES, SEVERITY_NAMES, WARN_NAMES, pick
from cocon.workbook.export_sheet import SheetWriter

if TYPE_CHECKING:
    from cocon.workbook.exporter import _Context


def write_checks(context: _Context) -> None:
    """Write every failing check of the scope, blocking ones first, as failing_rows lists them."""
    findings = stream_failing_rows(
        context.session, context.root, context.year, context.policies, context.batch
    )
    writer = SheetWriter(context, CHECKS, CHECKS.columns)
    writer.start(count_failing(context.session, context.root, context.year))
    rule_names = {rule: pick(names) for rule, names in RULE_NAMES.items()}
    severity_names: dict[str, str] = {}
    for finding, org_name in findings:
        severity = severity_names.get(finding.severity)
        if severity is None:
            severity = severity_names[finding.severity] = pick(
                SEVERITY_NAMES.get(finding.severity, WARN_NAMES)
            )
        writer.typed_row(
            (
                rule_names[finding.rule],
                severity,
                finding.subject,
                org_name if finding.org_id is not None else None,
                finding.message,
                finding.excess_fen or None,
            )
        )
    writer.finish()
