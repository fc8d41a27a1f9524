"""Rules for files customers and agents attach: pure checks on names, types and sizes."""

import mimetypes
import re
import unicodedata
from pathlib import PurePosixPath

# Screenshots, documents, logs and archives of configs: what support conversations carry.
ALLOWED_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".webp",
        ".pdf", ".txt", ".log", ".csv", ".json", ".xml", ".yaml", ".yml", ".conf", ".cfg",
        ".zip", ".gz", ".tgz",
        ".doc", ".docx", ".xls", ".xlsx", ".odt", ".ods",
    }
)  # fmt: skip
MAX_FILES_PER_MESSAGE = 5


def clean_filename(name: str) -> str:
    """A safe display name: no path, no control or shell-special characters, bounded length."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = unicodedata.normalize("NFKC", base)
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    if not base:
        base = "attachment"
    stem, dot, ext = base.rpartition(".")
    if dot and len(base) > 120:
        base = f"{stem[: 119 - len(ext)]}.{ext}"
    return base[:120]


def attachment_problem(*, name: str, size: int, max_bytes: int) -> str | None:
    """Why a file may not be attached, or None when it may."""
    ext = PurePosixPath(name.lower()).suffix
    if ext not in ALLOWED_EXTENSIONS:
        return "type"
    if size <= 0:
        return "empty"
    if size > max_bytes:
        return "size"
    return None


def content_type_for(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
