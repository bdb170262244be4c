"""Faust agents, one module each, with the topics they read."""
