MATCH (n)
RETURN labels(n)[0] AS kind, count(*) AS n
