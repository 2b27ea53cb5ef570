"""GovMetrics runtime: read, segment, find quantities, assemble records."""

__version__ = "0.1.0"
