"""Answering: candidates scored into hits, and the answer span read from each."""
