"""Messages (e-mail): landing JSON lines -> bronze (parse, type, quarantine) -> silver (MIME-decode, pseudonymise,
de-duplicate).

A landing message is one JSON object per line (:data:`smspark.schemas.LANDING_MESSAGE`): ``message_id``,
``corpus_group``, ``label`` (``ham``/``spam``), ``raw`` (the RFC 822 mail as text) and ``raw_base64`` (the mail's
original bytes, base64, when they are not valid UTF-8 and ``raw`` therefore holds U+FFFD in their place; null
otherwise). Decoding always starts from the original bytes (:func:`mail_bytes`).

Pure Python (testable without Spark): :func:`decode_message` parses a mail with the stdlib :mod:`email` package
(``email.policy.default``), takes the subject (RFC 2047 words decoded), the sender's address, the ``Date`` header and
the body text: the best body part by ``Message.get_body`` preferring ``text/plain`` over ``text/html`` (else the
first inline ``text/plain``/``text/html`` part anywhere), its transfer encoding (quoted-printable, base64, 8bit)
undone and its charset decoded (:func:`decode_part`); HTML reduced to text with the stdlib :mod:`html.parser`
(:func:`html_to_text`). A mail without a decodable body gets a ``reason`` instead of text.

Spark (pure DataFrame functions; the ``ingest``/``etl`` steps in :mod:`smspark.jobs.steps.messages` do the I/O):
:func:`parse_messages` (landing lines -> bronze + quarantine), :func:`decode_messages` (bronze -> one decoded row per
message, in a pandas UDF, sender pseudonymised inside it) and :func:`dedupe_messages` (-> silver + quarantine +
duplicates).
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from smspark.etl.jsonlines import (
    checked_lines,
    conform,
    first_reason,
    line_checks,
    parse_json_lines,
    rejected_lines,
    source_of,
)
from smspark.etl.parsed import ParsedLines
from smspark.etl.pseudonymise import pseudonym
from smspark.schemas import BRONZE_MESSAGES, LANDING_MESSAGE, MESSAGE_LABELS, QUARANTINE, SILVER_MESSAGES

#: Charsets tried, in order, for a body part that declares none (RFC 2045 says us-ascii; real 8-bit mail without
#: a label is mostly UTF-8 or Windows-1252, the WHATWG default for unlabelled legacy text).
UNDECLARED_CHARSETS: tuple[str, ...] = ("ascii", "utf-8", "windows-1252")

#: An e-mail address inside free text (subject, body): replaced by its keyed pseudonym in silver.
ADDRESS = re.compile(r"[\w.+%-]+@(?:[\w-]+\.)+[a-z]{2,}", re.IGNORECASE)

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br center dd div dl dt footer form h1 h2 h3 h4 h5 h6 header hr li "
    "ol p pre section table td th tr ul".split()
)
_SKIP_TAGS = frozenset(("script", "style", "title"))
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class UndecodableBody(ValueError):
    """A body part whose text cannot be recovered; the message is the quarantine reason."""


@dataclass(frozen=True)
class DecodedMessage:
    """What :func:`decode_message` takes from one mail.

    Attributes:
        subject: the ``Subject`` header, encoded words decoded (None when absent).
        sender: the ``From`` address, lower case (None when absent or without an address).
        sent_at: the ``Date`` header as a naive UTC datetime (None when absent or unparseable).
        text: the body text (None when ``reason`` is set).
        content_type: the MIME type of the part ``text`` came from (``text/plain`` or ``text/html``).
        charset: the charset the part was decoded with (declared, or the one of :data:`UNDECLARED_CHARSETS` that
            worked).
        reason: why there is no text (``no text/plain or text/html body part``, ``unknown charset 'x' ...``, ...).
    """

    subject: str | None
    sender: str | None
    sent_at: dt.datetime | None
    text: str | None
    content_type: str | None
    charset: str | None
    reason: str | None


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML document as a text browser shows it: character references decoded,
    script/style/title skipped (an unclosed one ends at ``<body>``), image ``alt`` text kept, a line break at every
    block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "body":
            self._skip = 0
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip() and not self._skip:
                self.parts.append(f" {alt.strip()} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS or tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ").replace("\r", " ")))


def html_to_text(markup: str) -> str:
    """The visible text of an HTML document or fragment (stdlib :class:`html.parser.HTMLParser`).

    Character references are decoded, comments and the content of ``script``, ``style`` and ``title`` are dropped,
    images are replaced by their ``alt`` text, every block element (``p``, ``div``, ``br``, ``tr``, ``li``,
    headings, ...) starts a new line; runs of spaces collapse to one and at most one blank line separates paragraphs
    (see :func:`tidy_text`).
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return tidy_text("".join(parser.parts))


def tidy_text(text: str) -> str:
    """Line ends as ``\\n``, trailing spaces of every line removed, at most one blank line in a row, leading and
    trailing blank space stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def mail_bytes(raw: str | None, raw_base64: bytes | None) -> bytes:
    """The mail's original bytes: ``raw_base64`` (already base64-decoded) when present, else ``raw`` as UTF-8.

    Raises:
        ValueError: when both are missing.
    """
    if raw_base64 is not None:
        return bytes(raw_base64)
    if raw is None:
        raise ValueError("a message needs raw text or raw bytes")
    return raw.encode("utf-8", "surrogateescape")


def decode_part(part: EmailMessage) -> tuple[str, str]:
    """The text of one ``text/*`` MIME part and the charset it was decoded with.

    The transfer encoding (quoted-printable, base64, 7bit/8bit) is undone by ``get_payload(decode=True)``. A declared
    charset is used when Python knows it (:func:`codecs.lookup`; aliases such as ``latin1`` or ``windows-1251``
    included); bytes invalid in it are decoded as U+FFFD, except that ``us-ascii`` with 8-bit bytes (the usual
    mislabel) is tried as UTF-8, then Windows-1252. An unknown charset is accepted only when the bytes are pure
    ASCII (every ASCII-compatible charset reads them the same). Without a declared charset
    :data:`UNDECLARED_CHARSETS` are tried in order.

    Raises:
        UndecodableBody: an unknown charset on non-ASCII bytes.
    """
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):  # a multipart or message/* part: no text of its own
        raise UndecodableBody(f"{content_type(part)} part has no text payload")
    declared = part.get_content_charset()
    if declared is None:
        return _first_decoding(data, UNDECLARED_CHARSETS)
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        if data.isascii():
            return data.decode("ascii"), "ascii"
        raise UndecodableBody(
            f"unknown charset {declared!r} in the {content_type(part)} body (non-ASCII bytes)"
        ) from None
    if codec == "ascii":
        return _first_decoding(data, UNDECLARED_CHARSETS)
    return data.decode(codec, errors="replace"), codec


def _first_decoding(data: bytes, charsets: tuple[str, ...]) -> tuple[str, str]:
    for charset in charsets[:-1]:
        try:
            return data.decode(charset), codecs.lookup(charset).name
        except UnicodeDecodeError:
            continue
    return data.decode(charsets[-1], errors="replace"), codecs.lookup(charsets[-1]).name


def body_part(msg: EmailMessage) -> EmailMessage | None:
    """The part that holds the mail's text: ``get_body(("plain", "html"))`` (the stdlib's choice for
    multipart/alternative, related and mixed), else the first non-attachment ``text/plain``, else ``text/html``
    part anywhere in the MIME tree; None when the mail has neither."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, IndexError, TypeError, ValueError):
        part = None
    if part is not None:
        return part
    for wanted in ("text/plain", "text/html"):
        for candidate in msg.walk():
            if content_type(candidate) == wanted and not candidate.is_attachment():
                return candidate
    return None


def content_type(part: EmailMessage) -> str:
    """A part's MIME type, lower case; a parameter glued on without ``;`` (``TEXT/PLAIN charset=US-ASCII``, a
    common malformation) is cut off."""
    return part.get_content_type().split()[0]


def _unescape(value: str) -> str:
    """Header text with the undecoded 8-bit bytes the parser kept as surrogate escapes (raw non-ASCII bytes in a
    header, not allowed by RFC 5322 but common in spam) decoded as :data:`UNDECLARED_CHARSETS`."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    return _first_decoding(value.encode("utf-8", "surrogateescape"), UNDECLARED_CHARSETS)[0]


def _raw_header(msg: EmailMessage, name: str) -> str | None:
    raw = next((v for k, v in msg.raw_items() if k.lower() == name), None)
    return None if raw is None else _unescape(str(raw))


def _header(msg: EmailMessage, name: str) -> str | None:
    """A header's value with RFC 2047 words decoded by the policy; a header holding raw 8-bit bytes (which the
    policy would turn into U+FFFD) or one the policy cannot parse is taken raw through :func:`_unescape`. Runs of
    white space (folding included) become one space; None when absent."""
    raw = next((str(v) for k, v in msg.raw_items() if k.lower() == name), None)
    if raw is None:
        return None
    value = _unescape(raw)
    if value == raw:
        try:
            value = str(msg.get(name))
        except Exception:  # noqa: BLE001 - malformed headers raise various errors in the policy's parsers
            value = raw
    return " ".join(value.split())


def _sender(msg: EmailMessage) -> str | None:
    raw = _raw_header(msg, "from")
    if raw is None:
        return None
    _, addr = email.utils.parseaddr(raw.replace("\n", " ").replace("\r", " "))
    addr = addr.strip().lower()
    return addr or None


def _sent_at(msg: EmailMessage) -> dt.datetime | None:
    raw = _raw_header(msg, "date")
    if raw is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def decode_message(data: bytes) -> DecodedMessage:
    """Parse one RFC 822 mail and take its subject, sender, date and body text (see :class:`DecodedMessage`).

    Args:
        data: the mail's bytes as delivered (headers, blank line, body), see :func:`mail_bytes`.

    Returns:
        The decoded fields; ``text`` is :func:`tidy_text` of the chosen part (HTML through :func:`html_to_text`).
        Instead of text, ``reason`` is ``no text/plain or text/html body part``, ``unknown charset ...`` (see
        :func:`decode_part`) or ``empty body text``. Never raises for a malformed mail: the stdlib parser records
        defects and goes on.
    """
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    fields = {"subject": _header(msg, "subject"), "sender": _sender(msg), "sent_at": _sent_at(msg)}
    part = body_part(msg)
    if part is None:
        return DecodedMessage(**fields, text=None, content_type=None, charset=None, reason=_no_body_reason(msg))
    ctype = content_type(part)
    try:
        text, charset = decode_part(part)
    except UndecodableBody as exc:
        return DecodedMessage(**fields, text=None, content_type=ctype, charset=None, reason=str(exc))
    text = html_to_text(text) if ctype == "text/html" else tidy_text(text)
    if not text and ctype == "text/plain":  # an empty plain alternative beside the HTML that holds the text
        html_part = _html_alternative(msg, part)
        if html_part is not None:
            try:
                markup, html_charset = decode_part(html_part)
                text, ctype, charset = html_to_text(markup), "text/html", html_charset
            except UndecodableBody:
                pass
    if not text:
        return DecodedMessage(**fields, text=None, content_type=ctype, charset=charset, reason="empty body text")
    return DecodedMessage(**fields, text=text, content_type=ctype, charset=charset, reason=None)


def _html_alternative(msg: EmailMessage, plain: EmailMessage) -> EmailMessage | None:
    try:
        part = msg.get_body(preferencelist=("html",))
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return part if part is not None and part is not plain else None


def _no_body_reason(msg: EmailMessage) -> str:
    types = sorted({content_type(p) for p in msg.walk()})
    defects = sorted({type(d).__name__ for p in msg.walk() for d in p.defects})
    return f"no text/plain or text/html body part (parts: {', '.join(types)}; defects: {', '.join(defects) or 'none'})"


def pseudonymise_addresses(text: str | None, key: bytes) -> str | None:
    """Every e-mail address in ``text`` (:data:`ADDRESS`) replaced by its keyed pseudonym ``u_<16 hex>``
    (:func:`smspark.etl.pseudonymise.pseudonym` of the lower-cased address, so it matches ``sender_id``)."""
    if text is None:
        return None
    return ADDRESS.sub(lambda m: pseudonym(m.group(0), key) or "", text)


# --- Spark ------------------------------------------------------------------------------------------------

#: What the decoding UDF returns per bronze message (``sent_epoch``: the ``Date`` header in unix seconds).
DECODED_STRUCT = StructType(
    [
        StructField("sender_id", StringType()),
        StructField("sent_epoch", LongType()),
        StructField("subject", StringType()),
        StructField("text", StringType()),
        StructField("content_type", StringType()),
        StructField("charset", StringType()),
        StructField("reason", StringType()),
    ]
)


def parse_messages(lines: DataFrame, ingest_date: dt.date) -> ParsedLines:
    """Parse landing lines into bronze messages; reject what cannot be parsed.

    Args:
        lines: one row per raw line with ``value`` (string as read by Spark's text source, possibly not valid UTF-8)
            and ``source_file`` (string path ``.../messages/<source>/<file>``).
        ingest_date: the bronze partition these rows land in.

    Returns:
        :class:`~smspark.etl.parsed.ParsedLines` ``(bronze, quarantine, checked)``: rows with schema
        :data:`BRONZE_MESSAGES` (``raw_bytes`` = ``raw_base64`` decoded); rejected lines with schema
        :data:`QUARANTINE` and one of the reasons ``not valid UTF-8``, ``empty line``, ``malformed JSON``,
        ``missing message_id``, ``missing raw``, ``label not one of ham/spam``, ``raw_base64 is not valid base64``.
        Every input line is in exactly one. Persist ``checked`` to parse each line once for both.
    """
    p = parse_json_lines(lines, LANDING_MESSAGE)
    label = F.lower(F.trim(F.col("j.label")))
    raw_bytes = F.try_to_binary(F.col("j.raw_base64"), F.lit("base64"))
    reason = first_reason(
        *line_checks(),
        (F.coalesce(F.trim(F.col("j.message_id")), F.lit("")) == "", "missing message_id"),
        (F.coalesce(F.col("j.raw"), F.lit("")) == "", "missing raw"),
        (label.isNotNull() & ~label.isin(*MESSAGE_LABELS), "label not one of " + "/".join(MESSAGE_LABELS)),
        (F.col("j.raw_base64").isNotNull() & raw_bytes.isNull(), "raw_base64 is not valid base64"),
    )
    p = checked_lines(p, reason)
    day = F.lit(ingest_date).cast("date")
    bronze = p.where(F.col("reason").isNull()).select(
        F.trim(F.col("j.message_id")).alias("message_id"),
        source_of(F.col("source_file")).alias("source"),
        F.col("j.corpus_group").alias("corpus_group"),
        label.alias("label"),
        F.col("j.raw").alias("raw"),
        raw_bytes.alias("raw_bytes"),
        "source_file",
        day.alias("ingest_date"),
    )
    return ParsedLines(conform(bronze, BRONZE_MESSAGES), rejected_lines(p, "messages", ingest_date), p)


def decode_row(raw: str | None, raw_bytes: bytes | None, key: bytes) -> dict[str, object]:
    """One bronze message -> the fields of :data:`DECODED_STRUCT`: :func:`decode_message` of :func:`mail_bytes`,
    the sender replaced by its keyed pseudonym and addresses in subject and text by theirs
    (:func:`pseudonymise_addresses`). A mail the stdlib cannot take apart at all gets the reason
    ``mail could not be parsed (<error>)`` instead of failing the job."""
    try:
        decoded = decode_message(mail_bytes(raw, raw_bytes))
        sent = decoded.sent_at
        sent_epoch = None if sent is None else int(sent.replace(tzinfo=dt.UTC).timestamp())
    except Exception as exc:  # noqa: BLE001 - one broken mail must not stop the table; it is quarantined
        reason = f"mail could not be parsed ({type(exc).__name__}: {exc})"
        return dict.fromkeys(f.name for f in DECODED_STRUCT.fields) | {"reason": reason}
    return {
        "sender_id": pseudonym(decoded.sender, key),
        "sent_epoch": sent_epoch,
        "subject": pseudonymise_addresses(decoded.subject, key),
        "text": pseudonymise_addresses(decoded.text, key),
        "content_type": decoded.content_type,
        "charset": decoded.charset,
        "reason": decoded.reason,
    }


def decode_col(raw: Column, raw_bytes: Column, key: bytes) -> Column:
    """Spark column: :func:`decode_row` in a pandas UDF (struct :data:`DECODED_STRUCT`). The raw sender never
    leaves the UDF."""

    @F.pandas_udf(DECODED_STRUCT)
    def _udf(raws: pd.Series, blobs: pd.Series) -> pd.DataFrame:
        rows = [
            decode_row(r if isinstance(r, str) else None, b if isinstance(b, bytes | bytearray) else None, key)
            for r, b in zip(raws, blobs, strict=True)
        ]
        frame = pd.DataFrame(rows, columns=[f.name for f in DECODED_STRUCT.fields])
        frame["sent_epoch"] = frame["sent_epoch"].astype("Int64")
        return frame

    return _udf(raw, raw_bytes)


def decode_messages(bronze: DataFrame, key: bytes) -> DataFrame:
    """Bronze messages -> one decoded row per message (:func:`decode_col`): ``message_id``, ``source``,
    ``corpus_group``, ``sender_id``, ``sent_at`` (timestamp, UTC), ``subject``, ``text``, ``content_type``,
    ``charset``, ``label`` (0 ham, 1 spam, null), ``reason`` (why there is no text, else null), ``source_file``,
    ``ingest_date``. The raw mail is not carried on."""
    d = bronze.withColumn("_d", decode_col(F.col("raw"), F.col("raw_bytes"), key))
    label = F.when(F.col("label") == MESSAGE_LABELS[1], 1).when(F.col("label") == MESSAGE_LABELS[0], 0)
    return d.select(
        "message_id",
        "source",
        "corpus_group",
        F.col("_d.sender_id").alias("sender_id"),
        F.timestamp_seconds(F.col("_d.sent_epoch")).alias("sent_at"),
        F.col("_d.subject").alias("subject"),
        F.col("_d.text").alias("text"),
        F.col("_d.content_type").alias("content_type"),
        F.col("_d.charset").alias("charset"),
        label.cast("int").alias("label"),
        F.col("_d.reason").alias("reason"),
        "source_file",
        "ingest_date",
    )


def dedupe_messages(df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Decoded messages (:func:`decode_messages`) -> silver, with what was rejected and what was dropped.

    Messages with a ``reason`` (no decodable text) are quarantined with it, each bronze row under its own
    ``ingest_date``. Duplicates are dropped first by (``source``, ``message_id``): the content of the latest ingest
    wins (ties by ``source_file``, then by the content itself), while ``ingest_date`` and ``dt`` are the key's FIRST
    ingest date (over every bronze row of the key, quarantined ones included); then by exact body ``text`` within a
    source (the earliest ``sent_at`` wins, ties by ``message_id``). No silver column depends on which ingest
    delivered the kept content, so delivering the latest ingest's rows again (a nightly re-ingest of an unchanged
    landing folder) changes no silver row.

    Returns:
        ``(silver, quarantine, duplicates)``: :data:`SILVER_MESSAGES` rows; :data:`QUARANTINE` rows (``raw`` = the
        message's ``message_id``, ``source`` and ``corpus_group`` as JSON); dropped duplicates as ``message_id`` +
        ``reason`` (``duplicate id`` / ``duplicate text``).
    """
    bad = F.col("reason").isNotNull()
    quarantine = df.where(bad).select(
        F.lit("messages").alias("table"),
        F.lit("etl").alias("stage"),
        "source_file",
        "reason",
        F.to_json(F.struct("message_id", "source", "corpus_group")).alias("raw"),
        F.current_timestamp().alias("quarantined_at"),
        "ingest_date",
    )
    content = [c for c in df.columns if c not in ("source", "message_id", "source_file", "ingest_date", "reason")]
    key = Window.partitionBy("source", "message_id")
    by_id = key.orderBy(F.col("ingest_date").desc(), "source_file", *content)
    df = df.withColumn("_first_ingest", F.min("ingest_date").over(key)).where(~bad)
    by_text = Window.partitionBy("source", "text").orderBy(F.col("sent_at").asc_nulls_last(), "message_id")
    df = df.withColumn("_id_rank", F.row_number().over(by_id))
    dup_id = df.where(F.col("_id_rank") > 1).select("message_id", F.lit("duplicate id").alias("reason"))
    df = df.where(F.col("_id_rank") == 1).withColumn("_text_rank", F.row_number().over(by_text))
    dup_text = df.where(F.col("_text_rank") > 1).select("message_id", F.lit("duplicate text").alias("reason"))
    silver = df.where(F.col("_text_rank") == 1).withColumn("ingest_date", F.col("_first_ingest"))
    silver = silver.withColumn("dt", F.col("ingest_date"))
    return conform(silver, SILVER_MESSAGES), conform(quarantine, QUARANTINE), dup_id.unionByName(dup_text)
