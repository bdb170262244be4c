"""Versioned prompt templates: <version>.system.txt and <version>.user.txt."""
