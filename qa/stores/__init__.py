"""Where the index lives: the interface (base), the FAISS folder store and the Milvus store, and the factory."""
