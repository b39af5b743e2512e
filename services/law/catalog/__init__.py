"""The reference catalogues (agencies, procedures) as versioned data files."""

from services.law.catalog.loader import (
    CatalogError,
    CatalogIndex,
    CatalogSet,
    load_catalog,
    load_catalogs,
)

__all__ = ["CatalogError", "CatalogIndex", "CatalogSet", "load_catalog", "load_catalogs"]
