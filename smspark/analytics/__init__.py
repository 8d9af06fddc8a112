"""Corpus analytics: keywords per time window, sentiment and topic trends (pure DataFrame functions)."""
