"""Paper reproductions (seed 003 Table I, seed 000 Tables 1–2) as grids of independent training cells."""
