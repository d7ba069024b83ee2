"""The inbox: file names, dialect readers and parsers, up to canonical typed frames."""
