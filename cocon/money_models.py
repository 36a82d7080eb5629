"""The tables of money: allocations, the funding lines drawing on them, payments out of these."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    SmallInteger,
    UniqueConstraint,
    case,
    or_,
)
from sqlmodel import Field, SQLModel

from cocon.model_types import version_column

ALLOCATION_VERSION = version_column()


class Allocation(SQLModel, table=True):
    """Money an org puts up for a year; a sub-allocation comes out of its parent allocation."""

    __tablename__ = "allocation"
    __mapper_args__ = {"version_id_col": ALLOCATION_VERSION}
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ck_allocation_amount"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_allocation_year"),
        # A subtree's allocations of a year: the year, then the subtree's org ids as a list.
        Index("ix_allocation_year_org", "year", "org_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=ALLOCATION_VERSION)
    code: str = Field(max_length=40, unique=True)
    org_id: int = Field(foreign_key="org.id", index=True, ondelete="RESTRICT")
    year: int
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    parent_id: int | None = Field(
        default=None, foreign_key="allocation.id", index=True, ondelete="RESTRICT"
    )
    source_note: str | None = Field(default=None, max_length=200)
    # The root of its sub-allocation chain (itself when its org put the money up): who put the
    # money up. Kept by cocon.derived (set_origins) whenever an allocation is saved.
    origin_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    # Kept by cocon.derived from the funding lines and sub-allocations, for fast rollups.
    drawn_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    draw_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    sub_allocated_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    sub_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    failing_checks: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )


class Reversible(SQLModel):
    """The fields of a row that is reversed, never deleted: it stays listed and counts zero."""

    reversed_at: datetime | None = None
    reversed_by: str | None = Field(default=None, max_length=120)
    reversed_by_id: int | None = None
    reversal_reason: str | None = Field(default=None, max_length=200)

    @property
    def is_reversed(self) -> bool:
        """Tell whether the row was reversed, so it counts nothing."""
        return self.reversed_at is not None


FUNDING_LINE_VERSION = version_column()


class FundingLine(Reversible, table=True):
    """A project drawing an amount from one allocation."""

    __tablename__ = "funding_line"
    __mapper_args__ = {"version_id_col": FUNDING_LINE_VERSION}
    __table_args__ = (
        UniqueConstraint("project_id", "allocation_id", name="uq_funding_line"),
        CheckConstraint("amount_fen > 0", name="ck_funding_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=FUNDING_LINE_VERSION)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="RESTRICT")
    allocation_id: int = Field(foreign_key="allocation.id", index=True, ondelete="RESTRICT")
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))

    @classmethod
    def counting(cls):
        """Return the SQL condition that a line still counts: it was not reversed."""
        return cls.reversed_at.is_(None)

    @classmethod
    def counted_fen(cls):
        """Return the SQL amount a line counts as drawn: nothing once reversed."""
        return case((cls.counting(), cls.amount_fen), else_=0)


class Payment(Reversible, table=True):
    """Money actually paid out against a funding line."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="ck_payment_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    funding_line_id: int = Field(foreign_key="funding_line.id", index=True, ondelete="RESTRICT")
    paid_on: date
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    voucher_no: str = Field(max_length=40, unique=True)
    note: str | None = Field(default=None, max_length=200)
    recorded_by: str | None = Field(default=None, max_length=120)
    recorded_by_id: int | None = None
    # Above COCON_PAYMENT_SECOND_SIGNATURE_FEN a payment waits for a second finance user: until
    # then it counts nowhere as paid (see counted_fen).
    awaiting_confirmation: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    confirmed_by: str | None = Field(default=None, max_length=120)
    confirmed_by_id: int | None = None
    confirmed_at: datetime | None = None

    @property
    def counts(self) -> bool:
        """Tell whether the payment counts as paid (the Python twin of counted_fen)."""
        return not self.awaiting_confirmation and self.reversed_at is None

    @classmethod
    def counted_fen(cls):
        """Return the SQL amount a payment counts as paid: nothing while it awaits
        confirmation or once it was reversed."""
        waits_or_reversed = or_(cls.awaiting_confirmation.is_(True), cls.reversed_at.is_not(None))
        return case((waits_or_reversed, 0), else_=cls.amount_fen)
