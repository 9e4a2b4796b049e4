"""Vectors: the embedder interface, its backends, the model conversion and the embedding cache."""
