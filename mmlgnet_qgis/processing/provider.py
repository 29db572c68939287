"""The MMLGNet Processing provider: six algorithms, GeoTIFF outputs only."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithm_base import icon_path
from .classify_algorithm import ClassifyAlgorithm
from .classify_distributed_algorithm import DistributedClassifyAlgorithm
from .evaluate_algorithm import EvaluateAlgorithm
from .import_benchmark_algorithm import ImportBenchmarkAlgorithm
from .rasterise_lidar_algorithm import RasteriseLidarAlgorithm
from .train_algorithm import TrainAlgorithm


class MMLGNetProvider(QgsProcessingProvider):
    def id(self):
        return "mmlgnet"

    def name(self):
        return "MMLGNet"

    def longName(self):  # noqa: N802 (QGIS names)
        return "MMLGNet: language-guided HSI + LiDAR classification"

    def icon(self):
        return QIcon(icon_path())

    def svgIconPath(self):  # noqa: N802
        return icon_path()

    def loadAlgorithms(self):  # noqa: N802
        for alg in (ImportBenchmarkAlgorithm(), TrainAlgorithm(), ClassifyAlgorithm(), DistributedClassifyAlgorithm(), EvaluateAlgorithm(),
                    RasteriseLidarAlgorithm()):
            self.addAlgorithm(alg)

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]  # the writers produce tiled GeoTIFFs (colour table, categories, atomic rename)
