"""Every answer that cites a law or gives a phone number names its sources in bot/sources.yml.

A cited document (《…》) needs a source with that title, a cited article (第…条) a source for that
article of the document named before it, a phone number a source for that number; "依法" and the
like need at least one legal source. The table itself must be complete and have no stale entries.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from contract.config import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
SOURCES = yaml.safe_load((PROJECT_ROOT / "bot" / "sources.yml").read_text(encoding="utf-8"))

# A document name, or an article (第二百三十六条之一): an article belongs to the last document named.
CHINESE_NUMERAL = "[一二三四五六七八九十百千零〇]+"
LEGAL_REFERENCE = re.compile(rf"《(?P<document>[^》]+)》|(?P<article>第{CHINESE_NUMERAL}条(?:之{CHINESE_NUMERAL})?)")
# Chinese hotlines (110, 120, 12355, 96110 …): 3 digits from 110 to 129, or 5 from 12xxx or 96xxx.
PHONE_NUMBER = re.compile(r"(?<!\d)(?:1[12]\d|12\d{3}|96\d{3})(?!\d)")
# Appeals to the law without naming a document.
LEGAL_WORDING = re.compile(r"依法|法律规定|按照法律")
REQUIRED_FIELDS = ("id", "title", "issuer", "version", "last_reviewed")


@dataclass(frozen=True, slots=True)
class Citation:
    kind: str  # "document", "article", "number" or "law"
    value: str
    document: str | None = None  # for an article: the document it belongs to

    def __str__(self) -> str:
        return f"《{self.document}》{self.value}" if self.kind == "article" and self.document else self.value


def citations(text: str) -> Iterator[Citation]:
    document: str | None = None
    for match in LEGAL_REFERENCE.finditer(text):
        if match["document"]:
            document = match["document"]
            yield Citation("document", document)
        else:
            yield Citation("article", match["article"], document)
    for number in PHONE_NUMBER.findall(text):
        yield Citation("number", number)
    if LEGAL_WORDING.search(text):
        yield Citation("law", "an appeal to the law")


def is_covered(citation: Citation, sources: list[dict]) -> bool:
    if citation.kind == "document":
        return any(citation.value in source["title"] for source in sources)
    if citation.kind == "article":
        return citation.document is not None and any(
            citation.document in source["title"] and source.get("article") == citation.value for source in sources)
    if citation.kind == "number":
        return any(str(source.get("number")) == citation.value for source in sources)
    return any("number" not in source for source in sources)


def missing_sources(responses: dict, table: dict) -> list[str]:
    """One line per citation in a response that the response's sources do not cover."""
    by_id = {source["id"]: source for source in table["sources"]}
    problems = []
    for name, variants in responses.items():
        named = [by_id[i] for i in (table["answers"] or {}).get(name, []) if i in by_id]
        for variant in variants:
            for citation in citations(variant["text"]):
                if not is_covered(citation, named):
                    problems.append(f"{name}: {citation} has no source in bot/sources.yml")
    return problems


def test_every_cited_law_article_and_number_has_a_source() -> None:
    assert missing_sources(DOMAIN["responses"], SOURCES) == []


def test_the_check_catches_an_uncited_law_a_wrong_article_and_a_bare_number() -> None:
    table = {"sources": [{"id": "criminal_law_art236", "title": "中华人民共和国刑法", "article": "第二百三十六条"}],
             "answers": {"utter_faq/x": ["criminal_law_art236"]}}
    responses = {"utter_faq/x": [{"text": "《刑法》第二百三十六条之一规定……请拨打110。"}],
                 "utter_faq/y": [{"text": "《反家庭暴力法》第二十八条规定，法院应当依法作出。"}]}
    assert missing_sources(responses, table) == [
        "utter_faq/x: 《刑法》第二百三十六条之一 has no source in bot/sources.yml",
        "utter_faq/x: 110 has no source in bot/sources.yml",
        "utter_faq/y: 反家庭暴力法 has no source in bot/sources.yml",
        "utter_faq/y: 《反家庭暴力法》第二十八条 has no source in bot/sources.yml",
        "utter_faq/y: an appeal to the law has no source in bot/sources.yml",
    ]


def test_every_referenced_source_exists_and_every_source_is_used() -> None:
    ids = [source["id"] for source in SOURCES["sources"]]
    assert len(ids) == len(set(ids)), "duplicate source ids"
    referenced = {i for refs in SOURCES["answers"].values() for i in refs}
    assert referenced - set(ids) == set(), "referenced but not in the table"
    assert set(ids) - referenced == set(), "in the table but no answer uses it"
    assert set(SOURCES["answers"]) <= set(DOMAIN["responses"]), "sources for a response that does not exist"


@pytest.mark.parametrize("source", SOURCES["sources"], ids=lambda source: source["id"])
def test_every_source_says_what_it_is_and_when_it_was_last_reviewed(source: dict) -> None:
    for field in REQUIRED_FIELDS:
        assert source.get(field), field
    assert isinstance(source["last_reviewed"], datetime.date)
    assert "article" not in source or LEGAL_REFERENCE.fullmatch(source["article"]), source["article"]
