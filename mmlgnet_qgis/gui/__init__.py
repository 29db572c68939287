"""Qt / QGIS widgets: the prompt dock (table, encoder, similarity heat map) and its controller.

Only imported by plugin.initGui and the GUI tests, so the core stays usable without a display.
"""
