"""Two study records -> typed changes: the walk, list items paired by identity, the rules."""
