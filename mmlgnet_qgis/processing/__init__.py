"""MMLGNet Processing provider and algorithms. Imports qgis; torch only while an algorithm runs."""
