"""An app module that raises while importing: a worker's startup failure."""

raise RuntimeError("broken on purpose")
