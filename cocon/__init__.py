"""cocon: co-construction projects and funding across the five-level linkage."""

__version__ = "0.1.0"
