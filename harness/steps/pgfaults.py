"""When steps of freezes, PostgreSQL-specific failures and fault schedules."""

from __future__ import annotations
