"""Messages: MIME decoding of real SpamAssassin mails (pure functions, checked against the stdlib), and ingest + etl
through the job steps on a real slice of ~300 mails (reconciliation, quarantine reasons, pseudonymised senders)."""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import email
import email.policy
import email.utils
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.etl.messages import decode_message, html_to_text, mail_bytes, tidy_text
from smspark.etl.pseudonymise import pseudonym
from smspark.jobs.common import JobContext
from smspark.jobs.steps import messages as steps
from smspark.manifest import RunManifest
from tests.conftest import local, require_landing

DAY = dt.date(2026, 11, 21)
EXPORT = ("messages", "spam_assassin", "messages.jsonl")


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    """Every landing record of the SpamAssassin export (6,046 mails, ~40 MB)."""
    with require_landing(*EXPORT).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def original(record: dict[str, Any]) -> bytes:
    blob = record["raw_base64"]
    return mail_bytes(record["raw"], base64.b64decode(blob) if blob else None)


def parsed(record: dict[str, Any]) -> email.message.EmailMessage:
    return email.message_from_bytes(original(record), policy=email.policy.default)


def first(
    corpus: list[dict[str, Any]], test: Callable[[dict[str, Any], Any], bool], hint: str = ""
) -> Iterator[dict[str, Any]]:
    """The records (in export order) whose raw text holds ``hint`` (any case) and whose parsed mail passes
    ``test(record, message)``."""
    return (r for r in corpus if hint.lower() in r["raw"].lower() and test(r, parsed(r)))


def _single(msg: Any, ctype: str, cte: str) -> bool:
    return (
        not msg.is_multipart()
        and msg.get_content_type() == ctype
        and str(msg.get("content-transfer-encoding", "")).strip().lower() == cte
    )


def _known_charset(part: Any) -> bool:
    try:
        codecs.lookup(part.get_content_charset() or "ascii")
        return True
    except LookupError:
        return False


def test_quoted_printable_mail_decodes_as_the_stdlib_does(corpus):
    escape = re.compile(r"=[0-9A-F]{2}")
    record = next(
        first(
            corpus,
            lambda r, m: (
                _single(m, "text/plain", "quoted-printable")
                and _known_charset(m)
                and len(escape.findall(m.get_payload())) > 5
            ),
            "quoted-printable",
        )
    )
    msg = parsed(record)
    decoded = decode_message(original(record))
    assert decoded.reason is None and decoded.content_type == "text/plain"
    assert decoded.text == tidy_text(msg.get_content())
    assert len(escape.findall(decoded.text)) < len(escape.findall(msg.get_payload())) - 5  # escapes undone


def test_base64_part_of_a_multipart_mail_decodes_as_the_stdlib_does(corpus):
    def base64_plain(r: dict[str, Any], m: Any) -> bool:
        body = m.get_body(preferencelist=("plain",)) if m.is_multipart() else None
        return body is not None and body.get("content-transfer-encoding", "").strip().lower() == "base64"

    record = next(first(corpus, base64_plain, "base64"))
    body = parsed(record).get_body(preferencelist=("plain",))
    decoded = decode_message(original(record))
    assert decoded.reason is None and decoded.content_type == "text/plain"
    assert decoded.text == tidy_text(body.get_content())
    assert body.get_payload().strip()[:40] not in decoded.text  # the base64 itself is gone


def test_plain_alternative_is_preferred_over_html(corpus):
    def alternative(r: dict[str, Any], m: Any) -> bool:
        types = {p.get_content_type() for p in m.walk()}
        return m.get_content_type() == "multipart/alternative" and {"text/plain", "text/html"} <= types

    record = next(first(corpus, alternative, "multipart/alternative"))
    plain = parsed(record).get_body(preferencelist=("plain",))
    decoded = decode_message(original(record))
    assert decoded.content_type == "text/plain" and decoded.text == tidy_text(plain.get_content())


def test_html_only_mail_is_reduced_to_its_visible_text(corpus):
    record = next(
        first(corpus, lambda r, m: _single(m, "text/html", "7bit") and len(m.get_payload()) > 2000, "text/html")
    )
    markup = parsed(record).get_content()
    decoded = decode_message(original(record))
    assert decoded.reason is None and decoded.content_type == "text/html"
    assert re.search(r"</?(?:html|body|p|br|div|td|font|a|table)\b", decoded.text, re.IGNORECASE) is None
    # an independent oracle: the longest run of plain words between two tags outside script/style
    visible = re.sub(r"(?is)<(script|style|title)\b.*?</\1>", " ", markup)
    chunks = [" ".join(c.split()) for c in re.split(r"<[^>]*>", visible) if "&" not in c]
    assert max(chunks, key=len) in " ".join(decoded.text.split())


def test_unclosed_head_does_not_hide_the_body():
    html = "<HTML><HEAD><TITLE>t</TITLE><BODY>Dear member,<P>the offer&nbsp;ends <b>today</b>.</BODY></HTML>"
    assert html_to_text(html) == "Dear member,\nthe offer ends today."


def test_unknown_charset_is_quarantined_with_its_name_unless_the_body_is_ascii(corpus):
    def unknown(r: dict[str, Any], m: Any) -> bool:
        return any(p.get_content_maintype() == "text" and not _known_charset(p) for p in m.walk())

    found = [r for r in corpus if _declares_unknown_charset(r["raw"]) and unknown(r, parsed(r))]
    non_ascii = [r for r in found if not _body(parsed(r)).isascii()]
    assert non_ascii and len(non_ascii) < len(found)
    bad = decode_message(original(non_ascii[0]))
    charset = next(p.get_content_charset() for p in parsed(non_ascii[0]).walk() if not _known_charset(p))
    assert bad.text is None
    assert bad.reason == f"unknown charset {charset!r} in the {bad.content_type} body (non-ASCII bytes)"
    fine = decode_message(original(next(r for r in found if _body(parsed(r)).isascii())))
    assert fine.reason is None and fine.charset == "ascii" and fine.text


def _declares_unknown_charset(raw: str) -> bool:
    for name in re.findall(r"charset\s*=\s*[\"']?([^\"';\s]+)", raw, re.IGNORECASE):
        try:
            codecs.lookup(name)
        except LookupError:
            return True
    return False


def _body(msg: Any) -> bytes:
    return b"".join(p.get_payload(decode=True) or b"" for p in msg.walk() if p.get_content_maintype() == "text")


def test_original_bytes_keep_8bit_charsets_the_package_text_lost(corpus):
    def latin1_8bit(r: dict[str, Any], m: Any) -> bool:
        return (
            r["raw_base64"] is not None
            and _single(m, "text/plain", "8bit")
            and _known_charset(m)
            and not m.get_payload(decode=True).isascii()
        )

    record = next(first(corpus, latin1_8bit))
    decoded = decode_message(original(record))
    lossy = decode_message(mail_bytes(record["raw"], None))
    # the package's text has U+FFFD for the 8-bit bytes; read as the declared Latin-1 it becomes mojibake
    assert "\ufffd" in record["raw"] and "\u00ef\u00bf\u00bd" in lossy.text
    assert "\ufffd" not in decoded.text and "\u00ef\u00bf\u00bd" not in decoded.text and not decoded.text.isascii()
    assert decoded.text == tidy_text(parsed(record).get_content())


def test_mail_without_a_text_part_gets_a_precise_reason(corpus):
    records = [r for r in corpus if r["corpus_group"] == "spam-1"]  # the first mail of this kind is in spam-1
    reasons = [decode_message(original(r)).reason or "" for r in records]
    no_body = [x for x in reasons if x.startswith("no text/plain or text/html body part")]
    assert no_body and all("defects: " in x for x in no_body)


# --- ingest + etl through the job steps -------------------------------------------------------------------------


def make_ctx(cfg: Any, spark: Any) -> JobContext:
    return JobContext(
        cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile), _spark=spark
    )


def sender(record: dict[str, Any]) -> str:
    return email.utils.parseaddr(str(parsed(record).get("from", "")))[1].lower()


def test_messages_ingest_and_etl_reconcile_and_pseudonymise(spark, make_cfg, corpus):
    lines = [json.dumps(r) for r in corpus[::20]]  # 303 mails across the five groups
    unknown = next(
        r
        for r in corpus
        if _declares_unknown_charset(r["raw"])
        and any(p.get_content_maintype() == "text" and not _known_charset(p) for p in parsed(r).walk())
        and not _body(parsed(r)).isascii()
    )
    extra = [json.dumps(unknown), lines[3], lines[4][: len(lines[4]) // 2]]  # undecodable, re-delivered, truncated
    cfg = make_cfg()
    export = local(cfg.layout.landing) / "messages" / "spam_assassin" / "m.jsonl"
    export.parent.mkdir(parents=True)
    export.write_text("".join(line + "\n" for line in lines + extra), encoding="utf-8")
    ctx = make_ctx(cfg, spark)

    counts = steps.ingest(ctx)["counts"]
    assert counts == {
        "rows_in": len(lines) + 3,
        "rows_out": len(lines) + 2,
        "quarantined": 1,
        "duplicates_dropped": 0,
        "reconciled": True,
    }
    counts = steps.etl(ctx)["counts"]
    assert counts["reconciled"] and counts["rows_in"] == len(lines) + 2
    assert counts["duplicates_by_reason"]["duplicate id"] == 1
    assert counts["rows_out"] + counts["quarantined"] + counts["duplicates_dropped"] == len(lines) + 2
    assert set(counts["labels"]) == {"0", "1"}

    q = tables.read(spark, storage.join(cfg.layout.quarantine, "messages"))
    reasons = {
        r["stage"]: r["reason"]
        for r in q.where(F.col("reason").startswith("unknown") | (F.col("stage") == "ingest")).collect()
    }
    assert reasons["ingest"] == "malformed JSON" and reasons["etl"].startswith("unknown charset")

    silver = tables.read_arrow(storage.join(cfg.layout.silver, "messages")).to_pandas()
    assert len(silver) == counts["rows_out"] and silver["message_id"].is_unique and silver["text"].is_unique
    addresses = {sender(json.loads(line)) for line in lines} - {""}
    assert len(addresses) > 100
    strings = silver.select_dtypes(include="object").astype(str)
    blob = "\n".join(strings.agg("\n".join, axis=1)).lower()
    leaked = sorted(a for a in addresses if a in blob)
    assert not leaked, f"raw sender addresses in silver: {leaked[:5]}"
    key = cfg.pseudonym_key()
    row = silver.iloc[0]
    record = next(json.loads(line) for line in lines if json.loads(line)["message_id"] == row["message_id"])
    assert row["sender_id"] == pseudonym(sender(record), key)
    assert row["label"] == {"ham": 0, "spam": 1}[record["label"]]
