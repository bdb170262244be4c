"""Faust web views."""
