// Uniqueness on the key a label's MERGE and MATCH look nodes up by: MERGE needs the index it creates.
CREATE CONSTRAINT {constraint} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{key} IS UNIQUE
