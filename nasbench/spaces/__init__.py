"""Search spaces, one module per space: the public side of each benchmark (enumeration, canonical
forms, mutation neighbours, encodings, human-readable forms)."""
