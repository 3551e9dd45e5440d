"""Runtime: starting Ray, tracking, importing the embedded model, memory measurement and the run directory."""
