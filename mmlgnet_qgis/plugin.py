"""QGIS plugin entry: registers the Processing provider and the prompt dock. Kept tiny."""
from __future__ import annotations


class MMLGNetPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.dock = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        from qgis.core import QgsApplication
        from .processing.provider import MMLGNetProvider
        self.provider = MMLGNetProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is not None:
            from .gui.dock_controller import PromptDockController
            self.dock = PromptDockController(self.iface)

    def unload(self):
        if self.dock is not None:
            self.dock.unload()
            self.dock = None
        if self.provider is not None:
            from qgis.core import QgsApplication
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
