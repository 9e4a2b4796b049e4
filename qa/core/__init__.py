"""The shared base: errors, text rules, answer kinds, logging and settings."""
