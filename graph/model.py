"""Names of the graph model shared by both backends."""

from __future__ import annotations

USER = "User"
ITEM = "Item"
META = "GraphMeta"
INTERACTED = "INTERACTED"
# Labels a Neo4j ingest's new users and items carry until it publishes them: no read query matches them, so
# the relationships staged onto them stay invisible until the publish commits.
STAGED = {USER: "GraphrecStagedUser", ITEM: "GraphrecStagedItem"}
# One node whose write lock an ingest into Neo4j holds from start to end, so a second ingest waits for it
# instead of clearing the first one's staging.
INGEST_LOCK = "GraphrecIngestLock"
STAGED_IDENTIFIERS = {"staged_user": STAGED[USER], "staged_item": STAGED[ITEM]}

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
