"""mmlgnet-qgis: MMLGNet (language-guided HSI + LiDAR classification) for QGIS.

Importing this package stays cheap and QGIS-free so `python -m mmlgnet_qgis` runs headless;
QGIS calls classFactory, which imports the plugin lazily.
"""
__version__ = "0.1.0"


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import MMLGNetPlugin
    return MMLGNetPlugin(iface)
