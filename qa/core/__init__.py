"""The shared base: errors, text rules, answer kinds, answer overlap, files, logging and settings."""
