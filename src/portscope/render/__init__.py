"""Outputs: terminal text, JSON, CSV, HTML. The sanitising of hostile strings lives here too."""
