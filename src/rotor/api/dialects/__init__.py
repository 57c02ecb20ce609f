"""Other products' APIs, spoken on rotor's own port over the same read handler, engine and
access model."""
