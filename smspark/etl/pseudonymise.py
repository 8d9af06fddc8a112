"""Keyed pseudonymisation of user identifiers (HMAC-SHA256, RFC 2104) for authors and @mentions.

A handle maps to ``u_`` + the first 16 hex digits (64 bits) of ``HMAC-SHA256(key, lower(handle))``: stable for
a key, unlinkable without it, different across keys. Handles are case-insensitive on the platforms we read,
hence the lower-casing. The key is passed in by the caller (see ``Settings.pseudonym_key``); it is never
logged or written.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

#: An @mention: one or more ``@`` then word characters (any length: real exports hold handles longer than today's
#: 15-character limit, and doubled ``@@``), not inside an e-mail address. Broad on purpose: privacy first.
MENTION = re.compile(r"(?<!\w)@+(\w+)")


def pseudonym(handle: str | None, key: bytes) -> str | None:
    """``u_<16 hex>`` for a handle or numeric user id; ``None`` and empty strings give ``None``."""
    if handle is None:
        return None
    handle = handle.strip().lstrip("@").lower()
    if not handle:
        return None
    return "u_" + hmac.new(key, handle.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def pseudonymise_mentions(text: str | None, key: bytes) -> str | None:
    """Replace every ``@handle`` in ``text`` by ``@u_<16 hex>`` (see :func:`pseudonym`)."""
    if text is None:
        return None
    return MENTION.sub(lambda m: "@" + pseudonym(m.group(1), key), text)


def pseudonym_col(col: Column, key: bytes) -> Column:
    """Spark column: :func:`pseudonym` applied to a string column (vectorised pandas UDF)."""

    @F.pandas_udf(StringType())
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda v: pseudonym(v, key) if isinstance(v, str) else None)

    return _udf(col)


def clean_text_col(col: Column, key: bytes) -> Column:
    """Spark column: normalised text (:func:`smspark.etl.text.normalise_text`) with mentions pseudonymised."""
    from smspark.etl.text import normalise_text

    @F.pandas_udf(StringType())
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda v: pseudonymise_mentions(normalise_text(v), key) if isinstance(v, str) else None)

    return _udf(col)
