"""Landing fingerprints (no Spark): a file's digest is streamed and equals the whole file's SHA-256; any change of a
file's bytes, of the file set or of the settings gives another fingerprint."""

from __future__ import annotations

import hashlib
import io

from smspark.jobs import landing
from tests.conftest import require_landing


def test_streamed_digest_equals_the_whole_files():
    path = require_landing("posts", "labelled_tweets", "posts.jsonl")
    data = path.read_bytes()
    expected = hashlib.sha256(data).hexdigest()
    assert landing.local_sha256(path) == landing.file_sha256(path.resolve().as_uri()) == expected
    assert landing.sha256_of(io.BytesIO(data), chunk=4096) == expected  # many chunks


def test_fingerprint_changes_with_bytes_files_and_settings(tmp_path):
    real = require_landing("posts", "labelled_tweets", "posts.jsonl").read_bytes().splitlines(keepends=True)[:50]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"".join(real))
    uri = path.resolve().as_uri()
    settings = {"max_post_chars": 100_000}
    fp = landing.fingerprint([uri], settings)
    assert fp == landing.fingerprint([uri], dict(settings)) and fp["parser"] == landing.parser_digest()
    assert landing.fingerprint([uri], {"max_post_chars": 280}) != fp
    path.write_bytes(b"".join(real[:-1]))  # one line fewer
    assert landing.fingerprint([uri], settings) != fp
    other = tmp_path / "more.jsonl"
    other.write_bytes(real[-1])
    path.write_bytes(b"".join(real))
    assert landing.fingerprint([uri], settings) == fp
    assert landing.fingerprint([uri, other.resolve().as_uri()], settings) != fp
