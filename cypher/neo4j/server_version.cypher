// The server's version and edition, for `graphrec doctor`.
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions[0] AS version, edition
