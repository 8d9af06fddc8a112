"""Sample source ``spam_assassin`` (:mod:`smspark.sources.spam_assassin`): real package files -> landing records."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from smspark.etl.messages import decode_message
from smspark.sources.common import SourceUnavailable, npm_pack
from smspark.sources.spam_assassin import SPAM_NPM, SPAM_PIN, parse_package_file
from tests.conftest import LANDING

#: A spam-1 mail whose Subject holds raw 8-bit (ISO-8859-9) bytes: the package's text has U+FFFD there.
TURKISH = "package/data/spam-1/00336.92409253178027f58e2c072a7e82791e"
#: The first easy-ham-1 mail: plain ASCII.
FIRST_HAM = "package/data/easy-ham-1/00001.7c53336b37003a9286aba55d2945844c"


@pytest.fixture(scope="module")
def package_files(tmp_path_factory) -> dict[str, bytes]:
    """The ``.json`` and ``.txt`` files of :data:`TURKISH` and :data:`FIRST_HAM` from the pinned npm tarball."""
    workdir = tmp_path_factory.mktemp("npm")
    try:
        tarball, _ = npm_pack(f"{SPAM_NPM}@{SPAM_PIN}", workdir)
    except SourceUnavailable as exc:
        pytest.skip(f"npm package not obtainable: {exc}")
    wanted = {f"{stem}.{ext}" for stem in (TURKISH, FIRST_HAM) for ext in ("json", "txt")}
    files = {}
    with tarfile.open(tarball, mode="r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                files[member.name] = tar.extractfile(member).read()
    assert set(files) == wanted
    return files


def test_package_file_with_8bit_bytes_keeps_the_original(package_files):
    record = parse_package_file(f"{TURKISH}.json", package_files[f"{TURKISH}.json"], package_files[f"{TURKISH}.txt"])
    assert list(record) == ["message_id", "corpus_group", "label", "raw", "raw_base64"]
    assert record["message_id"] == "92409253178027f58e2c072a7e82791e"
    assert record["corpus_group"] == "spam-1" and record["label"] == "spam"
    assert record["raw"] == json.loads(package_files[f"{TURKISH}.json"])["text"]
    assert "Subject: Yeni s\ufffdr\ufffdmde" in record["raw"]
    original = base64.b64decode(record["raw_base64"])
    assert original == package_files[f"{TURKISH}.txt"]
    assert hashlib.md5(original).hexdigest() == record["message_id"]  # noqa: S324 - the corpus' own checksum
    assert decode_message(original).subject == "Yeni s\u00fcr\u00fcmde"


def test_ascii_package_file_needs_no_bytes_and_matches_the_landing_export(package_files):
    record = parse_package_file(
        f"{FIRST_HAM}.json", package_files[f"{FIRST_HAM}.json"], package_files[f"{FIRST_HAM}.txt"]
    )
    assert record["label"] == "ham" and record["raw_base64"] is None
    assert record["raw"].encode("utf-8") == package_files[f"{FIRST_HAM}.txt"]
    export = LANDING / "messages" / "spam_assassin" / "messages.jsonl"
    if export.exists():
        with export.open(encoding="utf-8") as fh:
            assert json.loads(fh.readline()) == record  # the export starts with easy-ham-1/00001


def test_file_name_must_agree_with_the_content(package_files, tmp_path: Path):
    data = package_files[f"{FIRST_HAM}.json"]
    with pytest.raises(ValueError, match="differ from the file name"):
        parse_package_file("package/data/spam-2/00001.7c53336b37003a9286aba55d2945844c.json", data, None)
    with pytest.raises(ValueError, match="unknown group"):
        parse_package_file("package/data/spam-9/00001.7c53336b37003a9286aba55d2945844c.json", data, None)
    with pytest.raises(ValueError, match="not a package/data"):
        parse_package_file(f"{FIRST_HAM}.txt", data, None)
