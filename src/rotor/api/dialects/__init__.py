"""Other products' APIs, spoken on rotor's own port over the same store calls."""
