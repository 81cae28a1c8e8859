// The lowest and highest rating of the graph's interactions (null, null without ratings): the scale that
// feedback ratings are checked against.
MATCH (:User)-[r:INTERACTED]->(:Item)
WHERE r.rating IS NOT NULL
RETURN min(r.rating) AS low, max(r.rating) AS high
