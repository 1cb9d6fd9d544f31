"""Which plant assets a text names, with the words operators use for them.

Aliases come from the plant model, never from a hand-kept list: the asset id (``press-3``, also
written ``press 3``), model codes in its name (``P-400``, ``FD-600``, also ``P400`` as in part
numbers), and descriptive phrases of its name or type that fit no other asset (``transfer
conveyor``, ``blanking press``, ``400 t press``). A phrase that fits several assets (``feeder``)
names one only together with a line (``the line 2 feeder``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from control.plant.loader import load_plant
from control.plant.models import Asset, PlantModel

from . import sparse

_CODE = re.compile(r"\b[A-Z]{1,4}-\d+\b")
_LINE_IN_NAME = re.compile(r"\(line[^)]*\)", re.IGNORECASE)
_SIZE = re.compile(r"\b(\d+) t\b")
# Written forms of the same unit, so "400 ton press" meets the name's "400 t".
_TONNES = re.compile(r"\b(\d+)\s*(?:t|tons?|tonnes?)\b")
# "<kind> <number>" where the number is an id, not a quantity ("press 3", not "press 30 mm").
_NUMBERED = re.compile(r" ([a-z]+) (\d{1,2})(?= )(?! (?:mm|m|t|kn|bar|s|ms|spm|min|h|kg|c|deg) )")


def normalise(text: str) -> str:
    """Lower case, words and numbers apart: ``P400-BRG`` -> `` p 400 brg ``; padded with spaces."""
    text = _TONNES.sub(r"\1 t", text.lower())
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    return " " + " ".join(re.findall(r"[a-z0-9]+", text)) + " "


def _has(text: str, phrase: str) -> bool:
    return f" {phrase} " in text


def _suffixes(words: list[str]) -> list[str]:
    """``straight side mechanical press`` -> ``press``, ``mechanical press``, ..., the whole."""
    return [" ".join(words[i:]) for i in range(len(words))]


def _stem(ident: str) -> str:
    """``press`` of ``press-3``: what the plant calls this kind of thing."""
    return normalise(ident.rsplit("-", 1)[0]).strip()


def _phrases(asset: Asset) -> set[str]:
    """Descriptive phrases of an asset: its kind of machine as its name and type put it."""
    words = normalise(_LINE_IN_NAME.sub(" ", _CODE.sub(" ", asset.name))).split()
    phrases = {*_suffixes(words), *_suffixes(asset.type.split("_")), _stem(asset.id)}
    size = _SIZE.search(asset.name)
    if size and words:
        phrases.add(f"{size.group(1)} t {words[-1]}")
    return {p for p in phrases if p and not p.isdigit() and p != "t"}


class AssetAliases:
    """Resolves mentions of assets and lines in free text to their ids."""

    def __init__(self, plant: PlantModel) -> None:
        self.line_of = {asset.id: asset.line for asset in plant.assets}
        self.names = {asset.id: asset.name for asset in plant.assets}
        self.exact: dict[str, str] = {}
        for asset in plant.assets:
            for alias in [asset.id, *_CODE.findall(asset.name)]:
                spaced = normalise(alias).strip()
                self.exact[spaced] = asset.id
                self.exact[spaced.replace(" ", "")] = asset.id  # "press3", "fd600"
        owners: dict[str, set[str]] = defaultdict(set)
        for asset in plant.assets:
            for phrase in _phrases(asset):
                owners[phrase].add(asset.id)
        self.unique = {p: next(iter(ids)) for p, ids in owners.items() if len(ids) == 1}
        self.shared = {p: frozenset(ids) for p, ids in owners.items() if len(ids) > 1}
        self.lines = {normalise(line.id).strip(): line.id for line in plant.lines}
        known = [*self.line_of, *(line.id for line in plant.lines)]
        self.numbered_kinds = {_stem(ident) for ident in known}
        self.known_numbered = {normalise(ident).strip() for ident in known}

    def is_name(self, text: str) -> bool:
        """Whether ``text`` as a whole is an asset's or a line's id or code ("VI-2", "P-400")."""
        norm = normalise(text).strip()
        return norm in self.exact or norm.replace(" ", "") in self.exact or norm in self.lines

    def mentioned_lines(self, text: str) -> frozenset[str]:
        norm = normalise(text)
        return frozenset(line for alias, line in self.lines.items() if _has(norm, alias))

    def _matches(self, text: str) -> list[tuple[str, frozenset[str]]]:
        """Alias phrases found in ``text`` (normalised) with the assets each one names."""
        norm = normalise(text)
        found = [(alias, frozenset({a})) for alias, a in self.exact.items() if _has(norm, alias)]
        found += [(p, frozenset({a})) for p, a in self.unique.items() if _has(norm, p)]
        lines = self.mentioned_lines(text)
        if lines:
            # "the line 2 feeder": a shared phrase narrowed by the line it is on.
            for phrase, ids in self.shared.items():
                if _has(norm, phrase):
                    found.append((phrase, frozenset(a for a in ids if self.line_of[a] in lines)))
            found += [(alias, frozenset()) for alias in self.lines if _has(norm, alias)]
        return found

    def mentioned_assets(self, text: str) -> frozenset[str]:
        return frozenset().union(*(ids for _, ids in self._matches(text)))

    def mention_terms(self, text: str) -> frozenset[str]:
        """Index terms of the asset and line mentions in ``text``, however they were written."""
        found: set[str] = set()
        for phrase, _ in self._matches(text):
            for form in (phrase, phrase.replace(" ", ""), phrase.replace(" ", "-")):
                found.update(sparse.terms(form))
        return frozenset(found)

    def unknown_references(self, text: str) -> list[str]:
        """Numbered lines or assets the plant does not have (``line 3``, ``press 7``)."""
        norm = normalise(text)
        found = []
        for kind, number in _NUMBERED.findall(norm):
            mention = f"{kind} {number}"
            if kind in self.numbered_kinds and mention not in self.known_numbered:
                found.append(mention)
        return found

    def on_lines(self, lines: Iterable[str]) -> frozenset[str]:
        wanted = set(lines)
        return frozenset(a for a, line in self.line_of.items() if line in wanted)

    def label(self, asset_id: str) -> str:
        """``press-3, 400 t straight-side mechanical press P-400 (line 2)``."""
        name = self.names.get(asset_id)
        return f"{asset_id}, {name}" if name else asset_id


@lru_cache(maxsize=1)
def configured_aliases() -> AssetAliases:
    """Aliases of the plant Andon runs with (``ANDON_PLANT_FILE``, the demo site by default)."""
    from andon.settings import Settings  # settings read the environment: only when needed

    return AssetAliases(load_plant(Settings().plant_file))
