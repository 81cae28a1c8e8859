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

# Entity kinds and relation types become labels and table names, filled into query text from a validated list.
# They may not be one of the model's own names, compared case-insensitively (LadybugDB's table names ignore
# case), nor a Cypher keyword (openCypher's reserved words and LadybugDB's own), which would change what a
# query means.
MODEL_NAMES = frozenset(name.lower() for name in (USER, ITEM, META, INTERACTED, INGEST_LOCK, *STAGED.values()))
CYPHER_KEYWORDS = frozenset({
    "all", "and", "any", "as", "asc", "ascending", "attach", "begin", "by", "call", "case", "cast", "column",
    "commit", "constraint", "contains", "copy", "count", "create", "database", "default", "delete", "desc",
    "descending", "detach", "distinct", "do", "drop", "else", "end", "ends", "exists", "explain", "export",
    "false", "for", "from", "glob", "graph", "group", "in", "index", "install", "is", "key", "limit", "load",
    "macro", "match", "merge", "node", "none", "not", "null", "of", "on", "optional", "or", "order", "primary",
    "profile", "rel", "remove", "rename", "require", "return", "rollback", "scalar", "set", "shortest",
    "single", "skip", "starts", "table", "then", "to", "transaction", "true", "union", "unique", "unwind",
    "use", "when", "where", "with", "xor", "yield",
})


def reserved_name(name: str) -> str | None:
    """Why ``name`` cannot be an entity kind or a relation type, or None when it can."""
    folded = name.lower()
    if folded in MODEL_NAMES:
        return "is a name of the graph model itself (compared ignoring case)"
    if folded in CYPHER_KEYWORDS:
        return "is a Cypher keyword"
    return None



def name_clash(pairs: list[tuple[str, str]], stored: list[tuple[str, str]]) -> tuple[str, str, str] | None:
    """The first name of ``pairs`` (relation type, entity kind) that LadybugDB would take for another one: the
    same letters in another case, or a relation spelt like a kind (a kind and a relation each name a table, and
    table names ignore case), among these pairs, the ``stored`` ones and the model's own names. None, or (role,
    name, what it clashes with)."""
    seen: dict[str, tuple[str, str, str]] = {name.lower(): ("model", name, "a name of the graph model itself")
                                             for name in (USER, ITEM, META, INTERACTED)}
    for origin, found in (("stored", stored), ("source", pairs)):
        for relation, kind in found:
            for role, name in (("relation", relation), ("tail_kind", kind)):
                first = seen.setdefault(name.lower(), (role, name, f"the {origin} {role} {name}"))
                if first[:2] != (role, name):
                    return role, name, first[2]
    return None


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
