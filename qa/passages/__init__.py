"""Passages: documents cut into passages and their clauses."""
