"""The arithmetic audit: relations between a document's records, rebuilt and judged."""
