"""Faust tables, one module each, with the small functions that read and write them."""
