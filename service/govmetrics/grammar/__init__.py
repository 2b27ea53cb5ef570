"""The exact quantity grammar: numbers, scales, units and qualifiers into `Quantity` spans."""
