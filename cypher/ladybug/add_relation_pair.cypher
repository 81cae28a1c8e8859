// A relation type that already links items to one kind of entity gains another kind.
ALTER TABLE {relation} ADD IF NOT EXISTS FROM Item TO {kind}
