"""Reporting periods of the contract: month, quarter, year and contract to date, cut at local midnight."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from streams.contract import Contract

__all__ = ["PERIOD_KINDS", "Period", "contract_to_date", "month", "months_of", "parse_month", "period", "quarter",
           "year"]

PERIOD_KINDS = ("month", "quarter", "year", "contract")


@dataclass(frozen=True)
class Period:
    """A reporting period [start, end) as tz-aware UTC timestamps, with its kind and a readable label."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    @property
    def hours(self) -> float:
        """Length of the period in hours."""
        return (self.end - self.start) / pd.Timedelta(hours=1)


def _local(contract: Contract, day: dt.date) -> pd.Timestamp:
    """UTC instant of local midnight starting `day` in the contract's time zone."""
    return pd.Timestamp(day).tz_localize(contract.timezone).tz_convert("UTC")


def _clip(contract: Contract, kind: str, first: dt.date, after: dt.date, label: str) -> Period:
    first, after = max(first, contract.start), min(after, contract.end)
    if first >= after:
        raise ValueError(f"{label} is outside the contract ({contract.start} to {contract.end})")
    return Period(kind, _local(contract, first), _local(contract, after), label)


def month(contract: Contract, year_: int, month_: int) -> Period:
    """One calendar month, e.g. month(c, 2025, 1) for January 2025."""
    first = dt.date(year_, month_, 1)
    after = dt.date(year_ + (month_ == 12), month_ % 12 + 1, 1)
    return _clip(contract, "month", first, after, f"{year_}-{month_:02d}")


def quarter(contract: Contract, year_: int, q: int) -> Period:
    """One calendar quarter (1 to 4)."""
    if not 1 <= q <= 4:
        raise ValueError(f"quarter must be 1 to 4, got {q}")
    first = dt.date(year_, 3 * q - 2, 1)
    after = dt.date(year_ + (q == 4), (3 * q) % 12 + 1, 1)
    return _clip(contract, "quarter", first, after, f"{year_}-Q{q}")


def year(contract: Contract, year_: int) -> Period:
    """One calendar year (clipped to the contract)."""
    return _clip(contract, "year", dt.date(year_, 1, 1), dt.date(year_ + 1, 1, 1), str(year_))


def contract_to_date(contract: Contract, year_: int, month_: int) -> Period:
    """From the start of the contract to the end of the given month."""
    after = dt.date(year_ + (month_ == 12), month_ % 12 + 1, 1)
    return _clip(contract, "contract", contract.start, after, f"{contract.start:%Y-%m} → {year_}-{month_:02d}")


def period(contract: Contract, kind: str, at: dt.date) -> Period:
    """The period of a kind (`month`, `quarter`, `year`, `contract`) holding the date `at`."""
    if kind == "month":
        return month(contract, at.year, at.month)
    if kind == "quarter":
        return quarter(contract, at.year, (at.month - 1) // 3 + 1)
    if kind == "year":
        return year(contract, at.year)
    if kind == "contract":
        return contract_to_date(contract, at.year, at.month)
    raise ValueError(f"unknown period kind {kind!r}; expected one of {', '.join(PERIOD_KINDS)}")


def months_of(contract: Contract, p: Period) -> list[Period]:
    """The calendar months (clipped to the contract) that make up a period."""
    local = p.start.tz_convert(contract.timezone)
    y, m = local.year, local.month
    out = []
    while dt.date(y, m, 1) < contract.end:
        mp = month(contract, y, m)
        if mp.start >= p.end:
            return out
        out.append(mp)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def parse_month(text: str) -> dt.date:
    """A `YYYY-MM` string as the first day of that month; ValueError with the expected form."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"expected a month like 2025-01, got {text!r}") from None
