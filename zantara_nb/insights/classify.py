"""Query classification for the tracking side: category, intent, complexity, language.

The ZANTARA app calls :func:`classify` on a user's question just before it tracks
``message_sent`` and sends only the result (``QueryClass.as_properties()``): the raw
text is never stored or tracked (METRICS.md section 7, seed section 4).

>>> from zantara_nb.insights.classify import classify
>>> q = classify("Bagaimana cara memperpanjang KITAS saya?")
>>> q.category, q.intent, q.language, q.complexity
('visa', 'action', 'id', 'simple')

The taxonomy (categories with English and Indonesian keywords, intents, complexity
thresholds, language stopwords) lives in ``zantara_nb/data/taxonomy.yaml``; pass another
file to :func:`load_taxonomy` (a file with ``extends: default`` adds to the packaged one)
and the resulting :class:`Taxonomy` to any classifier function to change the rules
without code changes.

Rules (the seed's, made robust)
-------------------------------
- **Matching.** Text is lower-cased (curly apostrophes straightened). A keyword matches
  only as whole words (``(?<!\\w)…(?!\\w)``, i.e. regex ``\\b``: "tax" does not match "taxi",
  "law" not "lawn"), spaces inside a keyword match any whitespace, a hyphen may also be
  a space or nothing ("e-visa", "e visa", "evisa"), a final consonant + "y" may be
  "ies" ("companies"), and one of the taxonomy's ``suffixes`` may follow ("visas",
  "taxes", "pajaknya", "kitasmu"). ``re:`` keywords are
  regular expressions, used as written between the same word guards.
- **Category.** All keyword matches of all categories are collected; where matches
  overlap the longest one claims the text ("work permit" is one work_permit match, its
  "permit" nothing else). Each category scores its number of matches; the highest
  score wins, ties go to the taxonomy's ``priority`` order (default: tax, work_permit,
  property, finance, visa, business, legal — specific topics first, because employee,
  visa, company and legal words are often context: "PPh 21 for foreign employees", "tax
  for my PT PMA", "buy land with a KITAS"). No match: ``general``. (The seed returned
  the first category in dict order with any substring hit, so "taxi" was tax, "lawn"
  legal, and a visa word anywhere beat everything else.)
- **Intent.** ``troubleshooting``, then ``comparison``, then ``action``: the first with a
  keyword match wins, else ``information``. The seed checked action first, so "how do
  I fix my rejected application" was an action; problems and comparisons are more
  specific than "how do I".
- **Complexity.** The seed's thresholds (simple: < 15 words and one sentence; complex:
  > 50 words or > 3 sentences; else medium) with sentences counted properly: one per run
  of ``.?!`` followed by a space or the end, plus trailing text without punctuation (the
  seed counted ``count('.') + count('?') + 1``, so every question ending in "?" had two
  sentences and was never simple). A question touching two or more categories is at
  least medium ("multiple aspects").
- **Language.** ``id`` or ``en``: count each language's stopwords (whole words: yang, dan,
  di, untuk, bagaimana, apakah, saya, bisa … / the, is, how, what, I, my …) plus half a
  point per category keyword of that language (pajak, tanah, izin tinggal … / tax, land,
  stay permit …); the higher score wins, a tie gives the taxonomy's default (``en``).
- **query_hash**: salted SHA-256 (``zantara_nb.warehouse.privacy.hash_id``, ``$ZANTARA_HASH_SALT``) of
  the text lower-cased with whitespace collapsed, so the same question asked twice
  hashes the same, and the text cannot be recovered without the salt.
- **query_length**: characters of the text as typed (the seed's ``len(query)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..warehouse.privacy import hash_id

DEFAULT_TAXONOMY = "taxonomy.yaml"
INTENTS = ("information", "action", "comparison", "troubleshooting")
COMPLEXITIES = ("simple", "medium", "complex")
_LANG_ANY = "any"
_COMPLEXITY_KEYS = {
    "simple_max_words": 14,
    "simple_max_sentences": 1,
    "complex_min_words": 51,
    "complex_min_sentences": 4,
    "multi_topic_categories": 2,
}
_TOP_KEYS = {
    "version",
    "extends",
    "default_category",
    "priority",
    "suffixes",
    "categories",
    "intents",
    "complexity",
    "language",
}
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_WORD = re.compile(r"\w")


# ------------------------------------------------------------------------------------------
# Taxonomy
# ------------------------------------------------------------------------------------------


def _pattern(keyword: str, suffixes: tuple[str, ...]) -> str:
    """Regex source for one keyword, between word guards (see module docstring)."""
    kw = keyword.strip().lower()
    if kw.startswith("re:"):
        return rf"(?<!\w)(?:{kw[3:]})(?!\w)"
    parts = [re.escape(p) for p in kw.split()]
    last = parts[-1]
    if len(last) > 2 and last[-1] == "y" and last[-2] not in "aeiou":
        parts[-1] = last[:-1] + "(?:y|ies)"  # company / companies, notary / notaries
    body = r"\s+".join(parts).replace(r"\-", r"[-\s]?")
    suf = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
    return rf"(?<!\w){body}(?:{suf})?(?!\w)" if suf else rf"(?<!\w){body}(?!\w)"


@dataclass(frozen=True)
class _Keyword:
    text: str
    category: str
    language: str  # "en", "id", ... or "any"
    regex: re.Pattern[str]


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError(f"taxonomy: {where} must be a list of strings")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ValueError(f"taxonomy: {where} holds non-text or empty entries: {bad!r}")
    return tuple(v.strip().lower() for v in value)


def _lang_lists(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    """``{lang: [keywords]}`` (a bare list means ``any``)."""
    if value is None:
        return {}
    if isinstance(value, list | tuple | str):
        return {_LANG_ANY: _as_list(value, where)}
    if not isinstance(value, Mapping):
        raise ValueError(f"taxonomy: {where} must be a mapping of language -> keywords")
    return {str(k): _as_list(v, f"{where}.{k}") for k, v in value.items()}


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Categories, intents, complexity thresholds and language stopwords.

    Build it with :func:`load_taxonomy` (or :meth:`from_dict`); it compiles its patterns
    once. ``categories`` maps a category to ``{language: keywords}`` where the language is
    ``en``, ``id`` (any code with stopwords) or ``any``.
    """

    categories: dict[str, dict[str, tuple[str, ...]]]
    default_category: str = "general"
    priority: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    intent_keywords: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    intent_order: tuple[str, ...] = ("troubleshooting", "comparison", "action")
    intent_default: str = "information"
    complexity: dict[str, int] = field(default_factory=lambda: dict(_COMPLEXITY_KEYS))
    stopwords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    language_default: str = "en"
    keyword_weight: float = 0.5
    descriptions: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Taxonomy:
        """A taxonomy from the parsed YAML mapping (validated; errors name the key)."""
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise ValueError(f"taxonomy: unknown key(s) {', '.join(sorted(unknown))}")
        default = str(data.get("default_category", "general"))
        cats_in = data.get("categories") or {}
        if not isinstance(cats_in, Mapping):
            raise ValueError("taxonomy: categories must be a mapping")
        categories: dict[str, dict[str, tuple[str, ...]]] = {}
        descriptions: dict[str, str] = {}
        for name, spec in cats_in.items():
            spec = spec or {}
            if isinstance(spec, list):
                spec = {"keywords": spec}
            if not isinstance(spec, Mapping):
                raise ValueError(f"taxonomy: category {name!r} must be a mapping")
            categories[str(name)] = _lang_lists(spec.get("keywords"), f"categories.{name}")
            if spec.get("description"):
                descriptions[str(name)] = str(spec["description"])
        categories.setdefault(default, {})
        priority = _as_list(data.get("priority"), "priority")
        missing = [p for p in priority if p not in categories]
        if missing:
            raise ValueError(f"taxonomy: priority names unknown categories {missing}")
        # categories left out of the priority list rank after it, in file order
        priority = priority + tuple(c for c in categories if c not in priority and c != default)
        intents = data.get("intents") or {}
        ikw = {
            str(k): _lang_lists(v, f"intents.keywords.{k}")
            for k, v in (intents.get("keywords") or {}).items()
        }
        order = _as_list(intents.get("order"), "intents.order") or tuple(ikw)
        missing = [o for o in order if o not in ikw]
        if missing:
            raise ValueError(f"taxonomy: intents.order names intents without keywords {missing}")
        cx = dict(_COMPLEXITY_KEYS)
        for k, v in (data.get("complexity") or {}).items():
            if k not in cx:
                raise ValueError(f"taxonomy: unknown complexity setting {k!r}")
            cx[k] = int(v)
        lang = data.get("language") or {}
        stop = {
            str(k): _as_list(v, f"language.stopwords.{k}")
            for k, v in (lang.get("stopwords") or {}).items()
        }
        return cls(
            categories=categories,
            default_category=default,
            priority=priority,
            suffixes=_as_list(data.get("suffixes"), "suffixes"),
            intent_keywords=ikw,
            intent_order=order,
            intent_default=str(intents.get("default", "information")),
            complexity=cx,
            stopwords=stop,
            language_default=str(lang.get("default", "en")),
            keyword_weight=float(lang.get("keyword_weight", 0.5)),
            descriptions=descriptions,
            source=source,
        )

    # -- what it knows ------------------------------------------------------------------

    @property
    def category_names(self) -> tuple[str, ...]:
        """Every category, ``priority`` order, the default category last."""
        return (*self.priority, self.default_category)

    @property
    def intent_names(self) -> tuple[str, ...]:
        return (self.intent_default, *reversed(self.intent_order))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.stopwords) or (self.language_default,)

    # -- compiled patterns (cached per instance; the dataclass is frozen) --------------

    @property
    def _compiled(self) -> dict[str, Any]:
        cached = self.__dict__.get("_cache")
        if cached is None:
            cached = _compile(self)
            object.__setattr__(self, "_cache", cached)
        return cached


def _compile(t: Taxonomy) -> dict[str, Any]:
    keywords = []
    for cat, by_lang in t.categories.items():
        for lang, words in by_lang.items():
            for w in words:
                try:
                    rx = re.compile(_pattern(w, t.suffixes))
                except re.error as exc:
                    raise ValueError(f"taxonomy: bad keyword {w!r} in {cat}: {exc}") from exc
                keywords.append(_Keyword(w, cat, lang, rx))
    intents = {}
    for name, by_lang in t.intent_keywords.items():
        alts = [_pattern(w, t.suffixes) for ws in by_lang.values() for w in ws]
        intents[name] = re.compile("|".join(alts)) if alts else None
    stop = {}
    for lang, words in t.stopwords.items():
        alts = sorted((_pattern(w, ()) for w in words), key=len, reverse=True)
        stop[lang] = re.compile("|".join(alts)) if alts else None
    rank = {c: i for i, c in enumerate(t.priority)}
    return {"keywords": keywords, "intents": intents, "stop": stop, "rank": rank}


def _package_file(name: str) -> str:
    return resources.files("zantara_nb").joinpath("data", name).read_text(encoding="utf-8")


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``: categories/intents add keywords; scalars and lists replace."""
    out = {k: v for k, v in base.items()}
    for key, val in extra.items():
        if key == "extends":
            continue
        if key == "categories":
            cats = dict(out.get("categories") or {})
            for name, spec in (val or {}).items():
                spec = {"keywords": spec} if isinstance(spec, list) else dict(spec or {})
                old = dict(cats.get(name) or {})
                kw = _lang_lists(old.get("keywords"), f"categories.{name}")
                for lang, words in _lang_lists(spec.get("keywords"), f"categories.{name}").items():
                    kw[lang] = tuple(dict.fromkeys((*kw.get(lang, ()), *words)))
                old.update({k: v for k, v in spec.items() if k != "keywords"})
                old["keywords"] = {k: list(v) for k, v in kw.items()}
                cats[name] = old
            out["categories"] = cats
        elif key == "intents":
            intents = dict(out.get("intents") or {})
            for k, v in (val or {}).items():
                if k == "keywords":
                    kws = dict(intents.get("keywords") or {})
                    for name, lists in (v or {}).items():
                        old = _lang_lists(kws.get(name), f"intents.keywords.{name}")
                        for lang, words in _lang_lists(lists, name).items():
                            old[lang] = tuple(dict.fromkeys((*old.get(lang, ()), *words)))
                        kws[name] = {k2: list(v2) for k2, v2 in old.items()}
                    intents["keywords"] = kws
                else:
                    intents[k] = v
            out["intents"] = intents
        elif key in {"complexity", "language"} and isinstance(val, Mapping):
            merged = dict(out.get(key) or {})
            merged.update(val)
            out[key] = merged
        else:
            out[key] = val
    return out


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=1)
def _default_taxonomy() -> Taxonomy:
    data = _read_yaml(_package_file(DEFAULT_TAXONOMY), DEFAULT_TAXONOMY)
    return Taxonomy.from_dict(data, source=f"zantara_nb/data/{DEFAULT_TAXONOMY}")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The packaged taxonomy (``path=None``) or one read from a YAML file.

    A file with ``extends: default`` is merged over the packaged taxonomy: its categories
    are added (or get extra keywords), its intents get extra keywords, and its scalar
    settings and lists (``priority``, ``suffixes``...) replace the packaged ones. Without
    ``extends`` the file is the whole taxonomy.
    """
    if path is None:
        return _default_taxonomy()
    p = Path(path)
    data = _read_yaml(p.read_text(encoding="utf-8"), str(p))
    base = data.get("extends")
    if base not in (None, "default"):
        raise ValueError(f"{p}: extends must be 'default' (got {base!r})")
    if base == "default":
        data = _merge(_read_yaml(_package_file(DEFAULT_TAXONOMY), DEFAULT_TAXONOMY), data)
    return Taxonomy.from_dict(data, source=str(p))


def _tax(taxonomy: Taxonomy | None) -> Taxonomy:
    return _default_taxonomy() if taxonomy is None else taxonomy


# ------------------------------------------------------------------------------------------
# Classifiers
# ------------------------------------------------------------------------------------------


def normalize(text: str | None) -> str:
    """Lower-case, straight apostrophes, whitespace collapsed (what rules and hash see)."""
    if not text:
        return ""
    t = str(text).replace("\u2019", "'").replace("\u2018", "'").lower()
    return " ".join(t.split())


@dataclass(frozen=True)
class Match:
    """One keyword found in a query (for explaining a classification)."""

    category: str
    keyword: str
    language: str
    start: int
    end: int


def keyword_matches(text: str | None, taxonomy: Taxonomy | None = None) -> list[Match]:
    """Category keywords found in ``text`` after overlap resolution, in text order.

    Overlapping matches: the longest wins (then the earliest, then the first listed).
    """
    t = _tax(taxonomy)
    s = normalize(text)
    if not s:
        return []
    found = []
    for i, kw in enumerate(t._compiled["keywords"]):
        for m in kw.regex.finditer(s):
            if m.end() > m.start():
                found.append((m.end() - m.start(), m.start(), i, m.end(), kw))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    taken: list[tuple[int, int]] = []
    kept = []
    for _, start, _, end, kw in found:
        if any(start < e and b < end for b, e in taken):
            continue
        taken.append((start, end))
        kept.append(Match(kw.category, kw.text, kw.language, start, end))
    return sorted(kept, key=lambda m: m.start)


def category_scores(text: str | None, taxonomy: Taxonomy | None = None) -> dict[str, int]:
    """Number of keyword matches per category (only categories with a match)."""
    out: dict[str, int] = {}
    for m in keyword_matches(text, taxonomy):
        out[m.category] = out.get(m.category, 0) + 1
    return out


def _pick_category(matches: list[Match], t: Taxonomy) -> str:
    if not matches:
        return t.default_category
    score: dict[str, int] = {}
    for m in matches:
        score[m.category] = score.get(m.category, 0) + 1
    rank = t._compiled["rank"]
    return min(score, key=lambda c: (-score[c], rank.get(c, len(rank))))


def classify_query(text: str | None, taxonomy: Taxonomy | None = None) -> str:
    """The query's category (``visa``, ``business``, ``tax``, ``property``, ``legal``,
    ``finance``, ``work_permit`` or ``general``): most keyword matches, ties by the
    taxonomy's priority."""
    t = _tax(taxonomy)
    return _pick_category(keyword_matches(text, t), t)


def detect_intent(text: str | None, taxonomy: Taxonomy | None = None) -> str:
    """``troubleshooting``, ``comparison``, ``action`` (first with a keyword, in that
    order) or ``information``."""
    t = _tax(taxonomy)
    s = normalize(text)
    if s:
        for name in t.intent_order:
            rx = t._compiled["intents"].get(name)
            if rx is not None and rx.search(s):
                return name
    return t.intent_default


def sentence_count(text: str | None) -> int:
    """Sentences: runs of ``.?!`` followed by a space or the end, plus trailing text."""
    s = (text or "").strip()
    if not s:
        return 0
    ends = list(_SENTENCE_END.finditer(s))
    n = len(ends)
    tail = s[ends[-1].end() :] if ends else s
    return n + (1 if _WORD.search(tail) else 0)


def calculate_complexity(text: str | None, taxonomy: Taxonomy | None = None) -> str:
    """``simple``, ``medium`` or ``complex`` from words, sentences and topics (see module doc)."""
    t = _tax(taxonomy)
    return _complexity(text, t, None)


def _complexity(text: str | None, t: Taxonomy, matches: list[Match] | None) -> str:
    c = t.complexity
    words = len((text or "").split())
    sentences = sentence_count(text)
    if words >= c["complex_min_words"] or sentences >= c["complex_min_sentences"]:
        return "complex"
    if words <= c["simple_max_words"] and sentences <= c["simple_max_sentences"]:
        if matches is None:
            matches = keyword_matches(text, t)
        if len({m.category for m in matches}) < c["multi_topic_categories"]:
            return "simple"
    return "medium"


def language_scores(
    text: str | None, taxonomy: Taxonomy | None = None, matches: list[Match] | None = None
) -> dict[str, float]:
    """Per language: stopword hits + ``keyword_weight`` × category keywords of that language."""
    t = _tax(taxonomy)
    s = normalize(text)
    scores = {lang: 0.0 for lang in t.languages}
    if not s:
        return scores
    for lang, rx in t._compiled["stop"].items():
        if rx is not None:
            scores[lang] += len(rx.findall(s))
    if matches is None:
        matches = keyword_matches(s, t)
    for m in matches:
        if m.language in scores:
            scores[m.language] += t.keyword_weight
    return scores


def detect_language(text: str | None, taxonomy: Taxonomy | None = None) -> str:
    """``id`` or ``en`` (any language with stopwords in the taxonomy): the higher score of
    stopwords and language-specific keywords; a tie gives the default (``en``)."""
    t = _tax(taxonomy)
    return _language(language_scores(text, t), t)


def _language(scores: dict[str, float], t: Taxonomy) -> str:
    best = max(scores.values(), default=0.0)
    winners = [lang for lang, v in scores.items() if v == best]
    if best <= 0 or len(winners) != 1:
        return t.language_default
    return winners[0]


def query_hash(text: str | None) -> str:
    """Salted SHA-256 (truncated, :func:`zantara_nb.warehouse.privacy.hash_id`) of the normalised text."""
    return hash_id(normalize(text))


@dataclass(frozen=True)
class QueryClass:
    """What the app tracks about a query instead of its text."""

    category: str
    intent: str
    complexity: str
    language: str
    query_length: int
    query_hash: str

    def as_properties(self) -> dict[str, Any]:
        """The ``message_sent`` properties of the tracking plan."""
        return {
            "query_category": self.category,
            "query_intent": self.intent,
            "query_complexity": self.complexity,
            "query_language": self.language,
            "query_length": self.query_length,
            "query_hash": self.query_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(text: str | None, taxonomy: Taxonomy | None = None) -> QueryClass:
    """Everything the app tracks with ``message_sent`` for ``text`` (one pass of the rules)."""
    t = _tax(taxonomy)
    matches = keyword_matches(text, t)
    return QueryClass(
        category=_pick_category(matches, t),
        intent=detect_intent(text, t),
        complexity=_complexity(text, t, matches),
        language=_language(language_scores(text, t, matches), t),
        query_length=len(text or ""),
        query_hash=query_hash(text),
    )


def classify_many(
    texts: Iterable[str | None], taxonomy: Taxonomy | None = None
) -> list[QueryClass]:
    """:func:`classify` for each text."""
    t = _tax(taxonomy)
    return [classify(x, t) for x in texts]
