"""The reference catalogues (agencies, procedures) as versioned data files."""

from services.law.catalog.loader import (
    AgencyScope,
    CatalogError,
    CatalogIndex,
    CatalogSet,
    load_catalog,
    load_catalogs,
)

__all__ = ["AgencyScope", "CatalogError", "CatalogIndex", "CatalogSet", "load_catalog",
           "load_catalogs"]
