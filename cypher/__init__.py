"""Every Cypher query of graphrec, one .cypher file each, loaded by name (see graph/queries.py).

common/ holds the queries both dialects run as written; ladybug/ and neo4j/ hold a file only where the
dialect differs (schema DDL, bulk loading, label functions), and such a file overrides the common one.
Braced names such as {label} are identifiers filled from a validated whitelist, never from user input;
values always travel as $parameters.
"""
