"""Reading documents: files, bytes and archives into text (the first stage)."""
