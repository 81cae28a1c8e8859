MATCH (n)
RETURN label(n) AS kind, count(*) AS n
