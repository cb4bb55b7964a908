"""The documentation cannot drift from the code: schemas, event types, worked example, links.

No storage needed: names come from ``archiving.ingest.archiver.prepare`` (parse and build, no I/O).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from archiving.store import codec
from archiving.store import keys
from archiving.ingest.archiver import Outcome, prepare
from archiving.ingest.events import ARCHIVED_TYPES
from archiving.store.schemas import KINDS, SCHEMA_DIR

ROOT = Path(__file__).resolve().parent.parent
FORMAT_DOC = ROOT / "docs" / "archive-format.md"
SAMPLE = ROOT / "samples" / "conversation.json"


# -- helpers (each has a test of its own below, so that a broken helper cannot pass silently) -----


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> body, for headings of exactly this level (fenced code is not a heading)."""
    out: dict[str, str] = {}
    current, body, fenced = None, [], False
    marker = "#" * level + " "
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,%d} " % level, line):
            if current is not None:
                out[current] = "\n".join(body)
            current, body = (line[len(marker):].strip(), []) if line.startswith(marker) else (None, [])
            continue
        body.append(line)
    if current is not None:
        out[current] = "\n".join(body)
    return out


def embedded_schemas(text: str) -> dict[str, str]:
    """``### <kind>.schema.json`` -> the text of the first ```json block under it."""
    out = {}
    for heading, body in sections(text, 3).items():
        m = re.fullmatch(r"([\w-]+)\.schema\.json", heading)
        if m:
            block = re.search(r"^```json\n(.*?)^```", body, re.S | re.M)
            assert block, f"no ```json block under ### {heading}"
            out[m.group(1)] = block.group(1)
    return out


def event_type_table(text: str) -> dict[str, tuple[str, str]]:
    """Rows ``| `Microsoft.Communication.X` [(legacy)] | kind | action |``."""
    rows = re.findall(r"^\| `(Microsoft\.Communication\.\w+)`[^|]*\| ([\w-]+) \| ([\w-]+) \|$", text, re.M)
    return {t: (kind, action) for t, kind, action in rows}


def example_names(text: str) -> tuple[str, set[str]]:
    """The hash key and the blob names of the worked-example section."""
    body = next(b for h, b in sections(text, 2).items() if "Worked example" in h)
    key = re.search(r"ARCHIVE_HASH_KEY=([A-Za-z0-9._-]+)", body)
    assert key, "the worked example does not state its ARCHIVE_HASH_KEY"
    names = set(re.findall(r"`(chat/\d{6}/[^`]+\.json\.lz4)`", body))
    return key.group(1), names


def produced_names(hash_key: bytes) -> set[str]:
    names = set()
    for raw in json.loads(SAMPLE.read_text(encoding="utf-8")):
        prepared = prepare(raw, hash_key)
        if isinstance(prepared, Outcome):
            assert prepared.status == "skipped", prepared
            continue
        names.add(prepared.key)
    return names


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def relative_links(text: str) -> list[str]:
    """Targets of markdown links that are not URLs (code blocks and inline code ignored)."""
    text = _FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    text = _FENCE.sub("", text)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def broken_links(doc: Path) -> list[str]:
    problems = []
    for target in relative_links(doc.read_text(encoding="utf-8")):
        path, _, fragment = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            problems.append(f"{doc.resolve().relative_to(ROOT)}: {target} (no such file)")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{doc.resolve().relative_to(ROOT)}: {target} (no such heading)")
    return problems


DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


# -- (a) the schemas in the document are the shipped ones -------------------------------------------


def test_every_schema_is_embedded_and_equal():
    embedded = embedded_schemas(FORMAT_DOC.read_text(encoding="utf-8"))
    shipped = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert set(embedded) == shipped == set(KINDS)
    for kind in shipped:
        in_doc = json.loads(embedded[kind])
        in_code = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
        assert in_doc == in_code, f"{kind}.schema.json in docs/archive-format.md differs from archiving/store/schemas/"


def test_schema_comparison_notices_a_change():
    text = FORMAT_DOC.read_text(encoding="utf-8")
    altered = text.replace('"kind": {"const": "message"}', '"kind": {"const": "msg"}', 1)
    assert altered != text
    assert json.loads(embedded_schemas(altered)["message"]) != json.loads((SCHEMA_DIR / "message.schema.json").read_text())


# -- (b) every archived event type is in the document, with its kind and action -------------------


def test_every_archived_type_is_listed_with_its_record():
    text = FORMAT_DOC.read_text(encoding="utf-8")
    for event_type in ARCHIVED_TYPES:
        assert event_type in text, f"{event_type} is not in docs/archive-format.md"
    assert event_type_table(text) == ARCHIVED_TYPES


def test_event_type_table_parser_sees_a_wrong_action():
    text = FORMAT_DOC.read_text(encoding="utf-8")
    row = "| `Microsoft.Communication.ChatMessageEdited` | message | edited |"
    assert row in text
    assert event_type_table(text.replace(row, row.replace("edited |", "received |"))) != ARCHIVED_TYPES


# -- (c) the worked example's names are what the code produces ------------------------------------


def test_worked_example_names_are_what_the_code_produces():
    hash_key, documented = example_names(FORMAT_DOC.read_text(encoding="utf-8"))
    assert documented == produced_names(hash_key.encode("utf-8"))


def test_participant_suffix_depends_on_the_stated_key():
    hash_key, documented = example_names(FORMAT_DOC.read_text(encoding="utf-8"))
    other = produced_names(b"another-key")
    differing = documented - other
    assert differing and all("-participant-" in name for name in differing)


def test_conflict_example_name():
    text = FORMAT_DOC.read_text(encoding="utf-8")
    hash_key, _ = example_names(text)
    body = next(b for h, b in sections(text, 2).items() if "Duplicates and conflicts" in h)
    replacement = re.search(r"replaced by `([^`]+)`", body).group(1)
    (documented,) = re.findall(r"`(chat/[^`]+\.conflict-[0-9a-f]{12}\.json\.lz4)`", body)
    raw = copy.deepcopy(json.loads(SAMPLE.read_text(encoding="utf-8"))[2])  # the first message
    raw["data"]["messageBody"] = replacement
    record = prepare(raw, hash_key.encode("utf-8"))
    assert documented == keys.conflict_key(record.key, codec.sha256_hex(codec.dumps(record.substance)))


def test_example_tags_in_the_document():
    text = FORMAT_DOC.read_text(encoding="utf-8")
    thread = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"
    assert f"`{thread}` →\n`{keys.thread_tag(thread)}`" in text
    assert f"thread={keys.thread_tag(thread)}" in text


# -- (d) every relative link resolves -------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "there.md").write_text("# A heading, with `code`\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-code) [web](https://example.com) [in](#x)\n"
        "[gone](missing.md) [bad anchor](there.md#nope) `[code](x.md)`\n"
        "```\n[in code](also-missing.md)\n```\n",
        encoding="utf-8",
    )
    assert relative_links(doc.read_text()) == ["there.md", "there.md#a-heading-with-code", "#x", "missing.md",
                                               "there.md#nope"]
    problems = [p.split(": ", 1)[1] for p in broken_links_at(doc, tmp_path)]
    assert problems == ["#x (no such heading)", "missing.md (no such file)", "there.md#nope (no such heading)"]


def broken_links_at(doc: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return broken_links(doc)
    finally:
        ROOT = saved


def test_section_parser_skips_code_fences():
    text = "## One\nA\n```\n## not a heading\n```\n## Two\nB\n### Sub\nC\n"
    assert list(sections(text, 2)) == ["One", "Two"]
    assert "## not a heading" in sections(text, 2)["One"]
    assert sections(text, 3) == {"Sub": "C"}
