"""The reference catalogues (agencies, procedures) as versioned data files."""

from services.common.catalog.loader import CatalogError, CatalogIndex, load_catalog

__all__ = ["CatalogError", "CatalogIndex", "load_catalog"]
