"""Entity-swap augmentation (ablation variant h): training sentences moved to another war, role for role.

Half the corpus is Russia–Ukraine, so a model may tie a stance to names (Moscow, Kyiv, the
Kremlin) rather than to what is said. Each train row of a war in the lexicon
(``data/augmentation/entity_swap.yaml``) gets copies whose parties, demonyms, capitals, places,
venues and mediators are those of another war, chosen at random (seeded) among the wars that
can fill every role the sentence uses. Validation and test rows are never copied.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from negotiation_stance.errors import ConfigError
from negotiation_stance.io import DataError, atomic_write, read_records, required_text, write_jsonl_to

SIDES = ("side_a", "side_b")
SIDE_SLOTS = ("name", "adjective", "people", "capital", "seat")
LISTS = ("places", "venues")
MEDIATOR_SLOTS = ("name", "adjective", "capital")
# The fields a copy rewrites with one mapping; every other field is copied as it is.
SWAP_FIELDS = ("text", "context_before", "speaker")

# A role: ("side_a", "name"), ("places", 3), ("mediators", 0, "adjective") or ("keep",).
Role = tuple
KEEP: Role = ("keep",)
# Words after a demonym that show it is a noun ("all Sudanese and ..."), not an adjective ("Sudanese troops").
_NOT_A_NOUN = frozenset((
    "and", "or", "but", "who", "whom", "whose", "that", "which", "are", "were", "have", "had", "will", "would",
    "can", "could", "must", "should", "to", "in", "of", "on", "at", "for", "from", "with", "as", "is", "was", "by",
))  # fmt: skip


@dataclass
class WarLexicon:
    """One context's forms by role, and the pattern that finds them."""

    context: str
    forms: dict[Role, list[str]] = field(default_factory=dict)  # role -> forms; the first is the one written
    role_of: dict[str, Role] = field(default_factory=dict)  # form -> role
    bare: set[str] = field(default_factory=set)  # forms listed beside their "the" form ("Kremlin")

    def add(self, role: Role, forms: list[str], where: str) -> None:
        """Give ``role`` its forms; a form already taken by another group is a lexicon error."""
        if not forms:
            return
        self.forms[role] = forms
        for form in forms:
            if form.startswith("the ") and form[4:] in forms:
                self.bare.add(form[4:])
            other = self.role_of.setdefault(form, role)
            # One form in two slots of one side is fine (the first slot wins: name before adjective).
            if other != role and (other[0] != role[0] or other[0] not in SIDES):
                raise ValueError(f"{where}: {form!r} is already a form of {'.'.join(map(str, other))}")

    def compile(self) -> None:
        # "Russian Federation" bare (attributive, or after another determiner) must not become
        # "<adjective> Federation": a multi-word "the" form also matches bare, below explicit forms.
        for form, role in list(self.role_of.items()):
            if (
                role != KEEP
                and form.startswith("the ")
                and " " in form[4:]
                and self.role_of.setdefault(form[4:], role) == role
            ):
                self.bare.add(form[4:])
        self.surface: dict[str, str] = {}  # text as found -> form
        for form in self.role_of:
            variants = [form, form.upper()] + (["The " + form[4:]] if form.startswith("the ") else [])
            for variant in variants:
                self.surface.setdefault(variant, form)
        alternatives = "|".join(re.escape(s) for s in sorted(self.surface, key=len, reverse=True))
        # An indefinite article before a form is matched too: "a Russian" may become "an Armenian".
        self.pattern = re.compile(rf"(?:(?<!\w)(?P<det>[Aa]n?)\s+)?(?<!\w)(?P<ent>{alternatives})(?!\w)")

    def first(self, role: Role) -> str:
        return self.forms[role][0]

    def role_at(self, match: re.Match) -> Role:
        """The role of a match; a demonym that is adjective and people ("Sudanese") by the word after it."""
        form = self.surface[match.group("ent")]
        role = self.role_of[form]
        if role[0] in SIDES and role[1] == "adjective" and form in self.forms.get((role[0], "people"), []):
            after = re.match(r"\s+(\w+)", match.string[match.end() :])
            if not after or after.group(1) in _NOT_A_NOUN:  # "Sudanese troops", "Congolese Tutsi": adjectives
                return (role[0], "people")
        return role

    def roles_in(self, text: str) -> list[Role]:
        """The roles of the forms found in ``text``, in order (keep phrases left out)."""
        return [role for m in self.pattern.finditer(text) if (role := self.role_at(m)) != KEEP]

    def mentioned_in(self, text: str) -> bool:
        return self.pattern.search(text) is not None


def _forms(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where} must be a list of non-empty strings, got {value!r}")
    return [" ".join(v.split()) for v in value]


def _war(context: str, spec: Any) -> WarLexicon:
    if not isinstance(spec, dict):
        raise ValueError(f"{context}: expected a mapping of roles")
    unknown = set(spec) - {*SIDES, *LISTS, "mediators", "keep"}
    if unknown:
        raise ValueError(f"{context}: unknown keys {sorted(unknown)}")
    war = WarLexicon(context)
    for side in SIDES:
        slots = spec.get(side)
        if not isinstance(slots, dict) or "name" not in slots or set(slots) - set(SIDE_SLOTS):
            raise ValueError(f"{context}.{side}: needs a name, and only the slots {list(SIDE_SLOTS)}")
        for slot in SIDE_SLOTS:  # in this order: a form shared by two slots belongs to the first
            where = f"{context}.{side}.{slot}"
            war.add((side, slot), _forms(slots.get(slot, []), where), where)
    for name in LISTS:
        for i, form in enumerate(_forms(spec.get(name) or [], f"{context}.{name}")):
            war.add((name, i), [form], f"{context}.{name}")
    for i, mediator in enumerate(spec.get("mediators") or []):
        where = f"{context}.mediators[{i}]"
        if not isinstance(mediator, dict) or "name" not in mediator or set(mediator) - set(MEDIATOR_SLOTS):
            raise ValueError(f"{where}: needs a name, and only the slots {list(MEDIATOR_SLOTS)}")
        for slot in MEDIATOR_SLOTS:
            war.add(("mediators", i, slot), _forms(mediator.get(slot, []), where), where)
    war.add(KEEP, _forms(spec.get("keep") or [], f"{context}.keep"), f"{context}.keep")
    war.compile()
    return war


def load_lexicon(path: Path) -> dict[str, WarLexicon]:
    """The swap lexicon by context, checked: a bad entry is a DataError naming the file and the entry."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataError(path, line, None, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise DataError(path, None, None, "expected a mapping of context -> roles")
    try:
        return {str(context): _war(str(context), spec) for context, spec in raw.items()}
    except ValueError as exc:
        raise DataError(path, None, None, str(exc)) from exc


def role_mapping(source: WarLexicon, target: WarLexicon, used: list[Role]) -> dict[Role, Role] | None:
    """Each role used in a row -> the target's role; None when the target cannot fill one of them.

    Sides map to the same side. Places, venues and mediators map by rank: the first-listed
    place the row names goes to the target's first place, the next to its second.
    """
    mapping: dict[Role, Role] = {}
    ranks = {name: sorted({r[1] for r in used if r[0] == name}) for name in (*LISTS, "mediators")}
    for role in used:
        mapped = role if role[0] in SIDES else (role[0], ranks[role[0]].index(role[1]), *role[2:])
        if mapped not in target.forms:
            return None
        mapping[role] = mapped
    return mapping


def _indefinite(word: str, like: str) -> str:
    """``a`` or ``an`` before ``word`` (by sound, roughly), in the case of ``like``."""
    first = word.split()[0].split("-")[0]
    if (first.isupper() and len(first) > 1) or any(c.isdigit() for c in first):  # an acronym is spelled out
        article = "an" if first[0] in "AEFHILMNORSX" else "a"
    elif first.lower().startswith(("uk", "uni", "eu", "one")):
        article = "a"
    else:
        article = "an" if first[0].lower() in "aeiou" else "a"
    return article.capitalize() if like[0].isupper() else article


_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|[“‘(]|(?:^|\s)[\"'])$")


def swap_text(text: str, source: WarLexicon, target: WarLexicon, mapping: dict[Role, Role]) -> str:
    """``text`` with each of the source war's forms replaced by the target's form for the same role."""

    def replace(match: re.Match) -> str:
        found, det = match.group("ent"), match.group("det")
        form = source.surface[found]
        role = source.role_at(match)
        if role == KEEP:
            return match.group(0)
        out = target.first(mapping[role])
        before = match.string[: match.start()]
        if form in source.bare or det or re.search(r"(?<!\w)[Tt]he\s+$", before):
            out = out.removeprefix("the ")  # "Kremlin officials", "a Kremlin aide", no "the the"
        if found == form.upper() != form:
            out = out.upper()
        elif found[0].isupper() and (form[0].islower() or (not det and _SENTENCE_START.search(before))):
            out = out[0].upper() + out[1:]
        return f"{_indefinite(out, det)} {out}" if det else out

    return source.pattern.sub(replace, text)


def swap_row(row: dict[str, Any], source: WarLexicon, target: WarLexicon) -> dict[str, Any] | None:
    """The row moved to ``target``'s war (new id, provenance fields), or None if the target cannot take it."""
    texts = [row[f] for f in SWAP_FIELDS if isinstance(row.get(f), str)]
    used = [role for text in texts for role in source.roles_in(text)]
    mapping = role_mapping(source, target, used)
    if not used or mapping is None or any(target.mentioned_in(text) for text in texts):
        return None  # nothing to swap, a role the target lacks, or the target's names already there
    copy = dict(row)
    for name in SWAP_FIELDS:
        if isinstance(row.get(name), str):
            copy[name] = swap_text(row[name], source, target, mapping)
    copy["id"] = f"{row['id']}~swap-{target.context}"
    copy["augmented_from"] = row["id"]
    copy["augmentation"] = f"entity_swap:{source.context}->{target.context}"
    return copy


def augment_rows(
    rows: list[dict[str, Any]], contexts: dict[str, str], lexicon: dict[str, WarLexicon], copies: int = 1, seed: int = 0
) -> tuple[list[dict[str, Any]], Counter]:
    """Every row unchanged, each train row of a covered war followed by up to ``copies`` swapped copies.

    The target wars are drawn per row from a generator seeded by ``seed`` and the row's id, so
    a row's copies do not depend on the other rows or their order.
    """
    out: list[dict[str, Any]] = []
    counts: Counter = Counter()
    for row in rows:
        out.append(row)
        context = contexts.get(row["article_id"])
        if row.get("split") != "train":
            counts["not train (never augmented)"] += 1
            continue
        if context not in lexicon:
            counts["train, context not in the lexicon"] += 1
            continue
        source = lexicon[context]
        if not source.roles_in(row["text"]):
            counts["train, no entity found (no copy)"] += 1
            continue
        candidates = {}
        for name in sorted(lexicon):
            if name != context and (copy := swap_row(row, source, lexicon[name])) is not None:
                candidates[name] = copy
        if not candidates:
            counts["train, no other war fits (no copy)"] += 1
            continue
        rng = random.Random(f"{seed}:{row['id']}")
        for name in rng.sample(sorted(candidates), min(copies, len(candidates))):
            out.append(candidates[name])
            counts[f"{context}->{name}"] += 1
    return out, counts


def augment_file(
    statements: Path, articles: Path, lexicon_path: Path, out: Path, copies: int = 1, seed: int = 0
) -> Counter:
    """Read the statements and each article's context, write the augmented file atomically, return the counts."""
    if copies < 1:
        raise ConfigError(f"--copies must be >= 1, got {copies}")
    lexicon = load_lexicon(lexicon_path)
    contexts = {required_text(r, articles, "article_id"): required_text(r, articles, "context")
                for r in read_records(articles)}  # fmt: skip
    rows = []
    for row in read_records(statements):
        for name in ("id", "article_id", "text", "split"):
            required_text(row, statements, name)
        if row.record["article_id"] not in contexts:
            raise DataError(statements, row.line, "article_id", f"{row.record['article_id']!r} is not in {articles}")
        rows.append(row.record)
    augmented, counts = augment_rows(rows, contexts, lexicon, copies=copies, seed=seed)
    with atomic_write(out) as tmp:
        write_jsonl_to(tmp, augmented)
    return counts
