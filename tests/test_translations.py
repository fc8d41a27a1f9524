"""The catalogs are complete, compiled, and used: every page reads in Italian as in English.

No dependency beyond the standard library: .po files are parsed here, .mo files are read with
`gettext`, and the source's strings are extracted by Django's makemessages into a copy.
"""

import gettext
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from accounts import services as account_services

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
CATALOGS = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
HOW_TO_FIX = (
    "Run `make messages` (or `.venv/bin/python manage.py makemessages -l it --ignore=.venv "
    "--ignore=var` then `compilemessages`), translate every entry listed above in "
    "locale/<lang>/LC_MESSAGES/<domain>.po, remove any `#, fuzzy` flag once the translation "
    "is right, and commit the .po together with the compiled .mo."
)

# --- A small .po reader ----------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b"}


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


@dataclass
class Entry:
    line: int = 0
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    obsolete: bool = False

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    @property
    def label(self) -> str:
        context = f" (context {self.msgctxt!r})" if self.msgctxt is not None else ""
        where = f" used in {', '.join(self.references)}" if self.references else ""
        return f"line {self.line}: {self.msgid!r}{context}{where}"


_KEYWORD = re.compile(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$')


def read_po(path: Path) -> list[Entry]:
    """Entries of a .po file, obsolete (#~) ones included and marked."""
    entries: list[Entry] = []
    entry, last = Entry(), None  # `last` is the (keyword, index) that continuation lines extend

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].lstrip()
            if line.startswith("|"):
                continue
        elif line.startswith("#") or not line:
            if last is not None:
                entries.append(entry)
                entry, last = Entry(), None
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#:"):
                entry.references.extend(line[2:].split())
            continue
        match = _KEYWORD.match(line)
        if match:
            name, index, value = match.group(1), match.group(2), _unquote(match.group(3))
            # msgctxt, or a msgid not preceded by its msgctxt, starts the next entry.
            starts = name == "msgctxt" or (name == "msgid" and last != ("msgctxt", None))
            if last is not None and starts:
                entries.append(entry)
                entry = Entry()
            last = (name, int(index) if index is not None else None)
            entry.obsolete = entry.obsolete or obsolete
            if name == "msgid":
                entry.line = number
            if name == "msgstr":
                entry.msgstr[last[1] or 0] = value
            else:
                setattr(entry, name, value)
        else:
            assert last is not None, f"{path}:{number}: text outside an entry"
            name, index = last
            if name == "msgstr":
                entry.msgstr[index or 0] += _unquote(line)
            else:
                setattr(entry, name, getattr(entry, name) + _unquote(line))
    if last is not None:
        entries.append(entry)
    return entries


def active(entries: list[Entry]) -> list[Entry]:
    return [entry for entry in entries if not entry.obsolete and not entry.is_header]


def untranslated(entry: Entry) -> bool:
    expected = 2 if entry.msgid_plural is not None else 1
    forms = [entry.msgstr.get(index, "") for index in range(max(expected, len(entry.msgstr)))]
    return not all(forms)


def expected_mo_catalog(entries: list[Entry]) -> dict:
    """What msgfmt writes: translated, non-fuzzy, non-obsolete entries plus the header."""
    catalog = {}
    for entry in entries:
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        if not entry.is_header and untranslated(entry):
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is not None:
            for index, text in entry.msgstr.items():
                catalog[(key, index)] = text
        else:
            catalog[key] = entry.msgstr.get(0, "")
    return catalog


def without_creation_date(catalog: dict) -> dict:
    """GNU msgfmt leaves POT-Creation-Date out of the compiled header; compare the rest."""
    header = "".join(
        line
        for line in catalog.get("", "").splitlines(keepends=True)
        if not line.startswith("POT-Creation-Date:")
    )
    return {**catalog, "": header}


def catalog_id(path: Path) -> str:
    return str(path.relative_to(settings.BASE_DIR))


# --- The catalogs ----------------------------------------------------------------------------


def test_there_is_an_italian_catalog():
    assert LOCALE_DIR / "it" / "LC_MESSAGES" / "django.po" in CATALOGS


@pytest.mark.parametrize("po", CATALOGS, ids=catalog_id)
def test_catalog_is_complete(po):
    entries = [entry for entry in read_po(po) if not entry.obsolete]
    missing = [entry.label for entry in entries if not entry.is_header and untranslated(entry)]
    fuzzy = [entry.label for entry in entries if "fuzzy" in entry.flags]

    problems = []
    if missing:
        problems.append(
            f"{len(missing)} untranslated in {catalog_id(po)}:\n  " + "\n  ".join(missing)
        )
    if fuzzy:
        problems.append(f"{len(fuzzy)} fuzzy in {catalog_id(po)}:\n  " + "\n  ".join(fuzzy))
    assert not problems, "\n".join(problems) + "\n" + HOW_TO_FIX


@pytest.mark.parametrize("po", CATALOGS, ids=catalog_id)
def test_compiled_catalog_matches_the_po(po):
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{catalog_id(mo)} is missing.\n{HOW_TO_FIX}"
    with mo.open("rb") as fh:
        compiled = without_creation_date(gettext.GNUTranslations(fh)._catalog)
    expected = without_creation_date(expected_mo_catalog(read_po(po)))

    stale = sorted(
        repr(key)
        for key in expected.keys() | compiled.keys()
        if expected.get(key) != compiled.get(key)
    )
    assert not stale, (
        f"{catalog_id(mo)} is out of date with {catalog_id(po)} for:\n  "
        + "\n  ".join(stale)
        + f"\n{HOW_TO_FIX}"
    )


def test_po_reader_understands_plurals_contexts_fuzzy_and_obsolete(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#: a.py:1\nmsgid "one"\nmsgstr "uno"\n\n'
        '#, fuzzy, python-format\nmsgctxt "menu"\nmsgid "File \\"%s\\""\nmsgstr ""\n"Archivio"\n\n'
        'msgid "%(n)s minute"\nmsgid_plural "%(n)s minutes"\nmsgstr[0] "%(n)s minuto"\n'
        'msgstr[1] ""\n\n'
        '#~ msgid "gone"\n#~ msgstr ""\n',
        encoding="utf-8",
    )

    header, one, file_, minutes, gone = read_po(po)

    assert header.is_header and "charset=UTF-8\n" in header.msgstr[0]
    assert (one.msgid, one.msgstr, untranslated(one)) == ("one", {0: "uno"}, False)
    assert (file_.msgctxt, file_.msgid, file_.msgstr[0]) == ("menu", 'File "%s"', "Archivio")
    assert "fuzzy" in file_.flags
    assert minutes.msgid_plural == "%(n)s minutes" and untranslated(minutes)
    assert gone.obsolete and gone.msgid == "gone"
    assert active(read_po(po)) == [one, file_, minutes]


# --- The catalogs cover the source -----------------------------------------------------------

EXTENSIONS = {"django": (".py", ".html", ".txt"), "djangojs": (".js",)}
NOT_SOURCE = {"var", "staticfiles", "node_modules", "__pycache__", "locale"}


@pytest.mark.parametrize("po", CATALOGS, ids=catalog_id)
def test_every_string_of_the_source_is_in_the_catalog(po, tmp_path, monkeypatch):
    """makemessages, run on a copy of the source, finds no string the catalog lacks."""
    if not all(shutil.which(tool) for tool in ("xgettext", "msguniq")):
        pytest.skip("GNU gettext (xgettext, msguniq) is not installed")
    domain, language = po.stem, po.parent.parent.name
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "source"
    for directory, subdirectories, files in os.walk(base):
        subdirectories[:] = [
            name
            for name in subdirectories
            if name not in NOT_SOURCE
            and not name.startswith(".")
            and not name.endswith(".egg-info")
        ]
        for name in files:
            if name.endswith(EXTENSIONS[domain]):
                target = copy / Path(directory).relative_to(base) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(directory) / name, target)
    monkeypatch.chdir(copy)

    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=[language], domain=domain, verbosity=0)

    extracted = {(e.msgctxt, e.msgid): e for e in active(read_po(copy / po.relative_to(base)))}
    known = {(entry.msgctxt, entry.msgid) for entry in active(read_po(po))}
    missing = sorted(
        f"{entry.msgid!r} (used in {', '.join(entry.references)})"
        for key, entry in extracted.items()
        if key not in known
    )
    assert not missing, (
        f"{len(missing)} string(s) of the source not in {catalog_id(po)}:\n  "
        + "\n  ".join(missing)
        + f"\n{HOW_TO_FIX}"
    )


# --- The pages use them ----------------------------------------------------------------------


@pytest.mark.django_db
def test_page_in_italian_for_an_italian_browser(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert '<html lang="it">' in html
    assert "Il nostro impegno" in html
    assert "Apri un ticket" in html
    assert "2 minuti" in html and "1 minuto" in html


@pytest.mark.django_db
def test_page_in_english_for_an_english_browser(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<html lang="en">' in html
    assert "Our commitment" in html


@pytest.mark.django_db
def test_page_in_italian_for_a_user_whose_profile_says_it(client):
    user = account_services.customer_upsert(
        username="anna", email="anna@example.com", password="x-Secret-4-tests", language="it"
    )
    client.force_login(user)

    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<html lang="it">' in html
    assert "Il nostro impegno" in html
    assert "Esci" in html


@pytest.mark.django_db
def test_password_reset_email_in_the_accounts_language(client, mailoutbox):
    account_services.customer_upsert(
        username="anna", email="anna@example.com", password="x-Secret-4-tests", language="it"
    )

    client.post(
        "/accounts/password_reset/", {"email": "anna@example.com"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Reimposta la password INTROSERV"
    assert "Gentile anna," in mailoutbox[0].body
