"""What an inbound email carries: the new part of its text (quoted history trimmed, HTML made
safe text) and the files we accept; refused files are named in the text."""

import dataclasses
import email
import mimetypes
import re
from email.message import EmailMessage
from html.parser import HTMLParser

import nh3
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext as _

from core.errors import ServiceError
from mailin.headers import text_safe
from tickets.attachments import MAX_FILES_PER_MESSAGE, clean_filename
from tickets.services import attachments_check


@dataclasses.dataclass(frozen=True)
class Content:
    body: str
    attachments: list[SimpleUploadedFile]


def mail_content(msg: EmailMessage) -> Content:
    """The text and the acceptable files of an email; refused files are named in the text."""
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body_part is not None:
        text = _text_of(body_part)
        if body_part.get_content_subtype() == "html":
            text = html_to_text(text)
    text = trim_quoted(_normalise(text))
    uploads, notes = _attachments(msg, body_part)
    body = text or _("(no text)")
    if notes:
        body += "\n\n" + "\n".join(notes)
    return Content(body=body, attachments=uploads)


def _text_of(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _normalise(text: str) -> str:
    return text_safe(text).replace("\r\n", "\n").replace("\r", "\n")


def _leaves(part: EmailMessage):
    """The parts that carry content; a forwarded message (message/rfc822) stays whole."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaves(sub)
    else:
        yield part


def _attachments(
    msg: EmailMessage, body_part: EmailMessage | None
) -> tuple[list[SimpleUploadedFile], list[str]]:
    uploads: list[SimpleUploadedFile] = []
    notes: list[str] = []
    for part in _leaves(msg):
        if part is body_part:
            continue
        filename = part.get_filename()
        if (
            not filename
            and part.get_content_disposition() != "attachment"
            and part.get_content_maintype() == "text"
        ):
            continue  # the other alternative of the body (text/html beside text/plain)
        content_type = part.get_content_type()
        name = clean_filename(
            filename or "attachment" + (mimetypes.guess_extension(content_type) or "")
        )
        upload = SimpleUploadedFile(name, _bytes_of(part), content_type=content_type)
        try:
            if len(uploads) >= MAX_FILES_PER_MESSAGE:
                raise ServiceError(
                    _("at most %(n)s files per message") % {"n": MAX_FILES_PER_MESSAGE}
                )
            attachments_check([upload])
        except ServiceError as exc:
            notes.append(
                _("[attachment %(name)s was not accepted: %(reason)s]")
                % {"name": name, "reason": exc.detail}
            )
            continue
        uploads.append(upload)
    return uploads, notes


def _bytes_of(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if isinstance(inner, email.message.Message) else b""
    return part.get_payload(decode=True) or b""


QUOTE_HEADS = (
    re.compile(r"^On\s.+\swrote:$", re.DOTALL),
    re.compile(r"^Il\s.+\sha scritto:$", re.DOTALL),
    re.compile(r"^-{2,}\s*(?:Original Message|Messaggio originale)\s*-{2,}$", re.IGNORECASE),
)
# Outlook's plain-text reply: a line of underscores, then the quoted message's "From:".
OUTLOOK_RULE_RE = re.compile(r"^_{10,}$")
OUTLOOK_FROM_RE = re.compile(r"^(?:From|Da):\s")
# An attribution line may be wrapped over this many lines by the sender's client.
ATTRIBUTION_LINES = 3


def trim_quoted(text: str) -> str:
    """The new part of a reply: without the quoted history (from the "On ... wrote:" line
    on, and every line quoted with ">"). Never empty when the text was not: then the whole."""
    lines = text.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if OUTLOOK_RULE_RE.match(stripped) and any(
            OUTLOOK_FROM_RE.match(following.strip()) for following in lines[i + 1 : i + 3]
        ):
            cut = i
            break
        if not stripped.startswith(("On ", "Il ", "-")):
            continue
        joined = ""
        for following in lines[i : i + ATTRIBUTION_LINES]:
            joined = f"{joined} {following.strip()}".strip()
            if any(head.match(joined) for head in QUOTE_HEADS):
                cut = i
                break
        if cut != len(lines):
            break
    kept = [line.rstrip() for line in lines[:cut] if not line.lstrip().startswith(">")]
    trimmed = squeeze("\n".join(kept))
    return trimmed or squeeze(text)


def squeeze(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Tags whose content is never text for a person.
_DROPPED_CONTENT = {"script", "style", "title", "head", "template", "svg", "math", "noscript"}
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol"}
_LINES = {"div", "tr", "li", "dt", "dd", "hr", "section", "article", "header", "footer"}


class _TextExtractor(HTMLParser):
    """Text with the line structure of the HTML: blocks start lines, paragraphs are separated
    by a blank line, `<br>` breaks a line; breaks are emitted only before more text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.pre = 0
        self.breaks = 0

    def _break(self, lines: int) -> None:
        self.breaks = max(self.breaks, lines)

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.breaks += 1
        elif tag in _PARAGRAPHS:
            self._break(2)
        elif tag in _LINES:
            self._break(1)
        if tag == "li":
            self.handle_data("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_endtag(self, tag):
        if tag in _PARAGRAPHS:
            self._break(2)
        elif tag in _LINES:
            self._break(1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href.removeprefix("mailto:") not in label:
                self.handle_data(f" ({href})" if label else href)

    def handle_data(self, data):
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        if not data.strip():
            if not self.breaks:
                self.parts.append(data)
            return
        if self.breaks and self.parts:
            self.parts.append("\n" * self.breaks)
        self.breaks = 0
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML email: dangerous content dropped (nh3), tags stripped, line
    breaks kept, links kept as text."""
    safe = nh3.clean(
        html,
        clean_content_tags=_DROPPED_CONTENT,
        attributes={"a": {"href"}},
        link_rel=None,
    )
    parser = _TextExtractor()
    parser.feed(safe)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return squeeze("\n".join(lines))
