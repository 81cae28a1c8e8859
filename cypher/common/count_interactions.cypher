// interactions: user-item-behaviour relationships; events: the events they aggregate.
MATCH (:User)-[r:INTERACTED]->(:Item)
RETURN count(r) AS interactions, coalesce(sum(r.count), 0) AS events
