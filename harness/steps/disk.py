"""When steps of disk faults: filling the data and WAL volumes."""

from __future__ import annotations
