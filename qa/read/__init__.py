"""Reading documents: files in the data folder -> Document records with their paragraphs."""
