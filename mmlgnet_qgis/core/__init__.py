"""MMLGNet model library: torch + numpy only (no qgis, no osgeo), runs on a bare GPU box."""
