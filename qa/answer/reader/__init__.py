"""The reader: a small model that reads the question with a passage and marks the answer in it."""
