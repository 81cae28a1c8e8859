// Users or items an ingest creates, under a staging label no read query matches, tagged with the ingest's token;
// their internal ids let the staged relationships skip an index seek per endpoint.
UNWIND range(0, size($id) - 1) AS k
CREATE (n:{staged} {id: $id[k], ingest: $token})
SET n.title = $title[k]
RETURN $id[k] AS id, id(n) AS node
