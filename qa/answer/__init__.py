"""Answering: candidates scored into hits, the answer span chosen in each, and the reader that reads the first."""
