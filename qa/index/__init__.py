"""The index: the Store and Collection interface, FAISS and Milvus behind it, BM25, building it."""
