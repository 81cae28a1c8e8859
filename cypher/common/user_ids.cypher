// Users ordered by id: the pages of the interaction export are ranges of this list.
MATCH (u:User)
RETURN u.id AS id
ORDER BY id
