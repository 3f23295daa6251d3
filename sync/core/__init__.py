"""Pure parts, no I/O: IDs, the canonical record and its hash, the one text normaliser,
eligibility criteria, the diff (walk, list pairing, rules), change events, states, helpers."""
