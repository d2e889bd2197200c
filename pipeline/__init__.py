"""medcode: suggest ICD-10-CM and ICD-10-PCS codes for clinical notes."""

from pipeline.about import __version__

__all__ = ["__version__"]
