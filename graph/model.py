"""Names of the graph model shared by both backends."""

from __future__ import annotations

USER = "User"
ITEM = "Item"
META = "GraphMeta"
INTERACTED = "INTERACTED"

# Readable phrases for explanation sentences, by relation type; anything else gets a generic phrase.
RELATION_PHRASES = {
    "HAS_GENRE": "share the genre {entity}",
    "BY_ARTIST": "share the artist {entity}",
    "RELEASED_IN": "were both released in {entity}",
    "IN_CATEGORY": "are both in category {entity}",
    "HAS_TAG": "are both tagged '{entity}'",
}


def constraint_name(label: str, key: str = "id") -> str:
    """Names keep the label's case: labels that differ only by case are different kinds with their own keys."""
    return f"graphrec_{label}_{key}"
