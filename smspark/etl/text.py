"""Text normalisation for posts (pure Python; applied in Spark through pandas UDFs).

``normalise_text``: HTML entities decoded (``&amp;`` -> ``&``, stdlib :func:`html.unescape`), control characters
other than whitespace (NUL and the rest of C0, DEL) removed, URLs replaced by the token ``<url>``, runs of
whitespace (including newlines and non-breaking spaces) collapsed to one space, leading/trailing space stripped.
``tokenize``: the one tokenizer of the pipeline (features and scoring both use it), lower-cased words, hashtags,
``<url>``/``<user>`` tokens and ``!``/``?``.
"""

from __future__ import annotations

import html
import re

URL_TOKEN = "<url>"
USER_TOKEN = "<user>"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WS = re.compile(r"\s+")
#: C0 control characters that are not whitespace, and DEL: no meaning in a post, and NUL breaks C-string consumers.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
#: Any @mention (raw or pseudonymised, see :mod:`smspark.etl.pseudonymise`): one ``<user>`` token for the models.
_MENTION = re.compile(r"(?<![\w@])@\w+")
_TOKEN = re.compile(r"<url>|<user>|#?[a-z0-9]+(?:'[a-z]+)?|[!?]")


def normalise_text(text: str | None) -> str | None:
    """Decode HTML entities, remove control characters (NUL ...), replace URLs with ``<url>`` and collapse
    whitespace. ``None`` stays ``None``."""
    if text is None:
        return None
    text = _CONTROL.sub("", html.unescape(html.unescape(text)))  # exports often double-escape (&amp;amp;)
    text = _URL.sub(URL_TOKEN, text)
    return _WS.sub(" ", text).strip()


def tokenize(text: str | None) -> list[str]:
    """Split normalised text into model tokens (lower case). ``None`` gives ``[]``."""
    if not text:
        return []
    return _TOKEN.findall(_MENTION.sub(USER_TOKEN, text).lower())
