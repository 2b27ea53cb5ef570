"""Bulk annotation of archives: engines, the SQLite result store, exports."""
