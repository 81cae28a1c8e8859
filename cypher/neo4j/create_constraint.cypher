// Uniqueness on id: MERGE needs the index it creates to stay fast.
CREATE CONSTRAINT {constraint} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE
