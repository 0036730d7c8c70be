"""Paper reproductions (Tan & Lim's SDAGD Table I, Wu's attention Tables 1–2) as grids of independent training cells."""
