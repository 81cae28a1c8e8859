MATCH ()-[r]->()
RETURN label(r) AS type, count(*) AS n
