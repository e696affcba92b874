"""A toy bot vendor, entirely under tests/: its adapter, options, catalogue file and stand-in. The
proof that adding an adapter is one package and one catalogue file, with nothing under src/ changed."""
