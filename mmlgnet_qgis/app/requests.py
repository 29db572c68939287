"""Typed requests for every use case, with a JSON round trip.

Front ends (command line, Processing, dock, demo) fill one of these and hand it to
`app.run`; the worker process and the Dask client send them as JSON. torch-free and
QGIS-free: QGIS builds requests without importing the heavy layers.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field

from ..core import defaults
from ..core.errors import InputError
from ..core.lidar_products import DEFAULT_FILL_RADIUS


def _check_value(name: str, kind: typing.Any, value: typing.Any) -> typing.Any:
    """Convert a value to the field's declared kind (a type hint), or raise InputError naming the field."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is typing.Union:  # X | None
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"request field '{name}' must be a list, got {value!r:.60}")
        return [_check_value(name, args[0], v) for v in value]
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"request field '{name}' must be true or false, got {value!r:.60}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"request field '{name}' must be a whole number, got {value!r:.60}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"request field '{name}' must be a number, got {value!r:.60}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise InputError(f"request field '{name}' must be text, got {value!r:.60}")
        return value
    return value


class Request:
    """Base of the requests: `kind` names the use case; `to_dict` / `from_dict` round-trip JSON."""

    kind: typing.ClassVar[str] = ""

    def to_dict(self) -> dict:
        """Returns: {"kind": ..., field: value, ...}, JSON-serialisable."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """Returns: the request as one line of JSON."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> typing.Self:
        """Build and check a request.

        Args:
            data: field values; "kind", when present, must match.

        Returns:
            The request.

        Raises:
            InputError: an unknown or missing field, a value of the wrong type, or another kind.
        """
        if not isinstance(data, dict):
            raise InputError(f"a {cls.kind} request must be a JSON object, got {data!r:.60}")
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise InputError(f"expected a '{cls.kind}' request, got '{kind}'")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InputError(f"unknown field(s) in the {cls.kind} request: {', '.join(unknown)}")
        values = {}
        for name, f in fields.items():
            if name in data:
                values[name] = _check_value(name, hints[name], data[name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"the {cls.kind} request lacks '{name}'")
        return cls(**values)

    @classmethod
    def field_names(cls) -> list[str]:
        """Returns: the names of the request's fields, in order."""
        return [f.name for f in dataclasses.fields(cls)]


@dataclass
class TrainRequest(Request):
    """Train a model on labelled pixels and write a model file."""

    kind: typing.ClassVar[str] = "train"
    hsi: str
    lidar: str
    out: str                                   # the model file (.safetensors)
    train_labels: str | None = None            # raster / .mat of class ids, 0 = none
    label_vector: str | None = None            # ...or a vector layer of labelled areas
    label_field: str | None = None             # its class field: ids or class names
    prompts: str | None = None                 # JSON text or a .json path
    project_prompts: str | None = None         # the QGIS project's prompt set (JSON), below `prompts`
    scene: str | None = None                   # benchmark scene: class names and prompts
    text_encoder: str = defaults.TEXT_ENCODER
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LEARNING_RATE
    preset: str = defaults.DEFAULT_PRESET      # distilled (standard teacher -> fast student), standard or fast
    hsi_width: int | None = None               # None: the preset's
    lidar_width: int | None = None
    fusion_width: int | None = None
    patch_size: int = defaults.PATCH_SIZE
    modalities: str = "both"
    loss: str = defaults.DEFAULT_LOSS
    distill_weight: float = defaults.DISTILL_WEIGHT
    ce_weight: float = defaults.CE_WEIGHT
    device: str = "auto"
    seed: int = 0
    threads: int = 0                           # torch CPU threads; 0 = torch's default
    resample_lidar: bool = False
    lidar_products: list[str] | None = None    # LiDAR as .las/.laz: bands to rasterise; None: ndsm, intensity
    lidar_fill_radius: int = DEFAULT_FILL_RADIUS  # pixels; empty cells further from a point are nodata
    lidar_crs: str | None = None               # CRS of point clouds whose header states none
    log_file: str | None = None                # training log (text)
    report_html: str | None = None             # HTML page with the training curves
    validation_fraction: float = 0.0           # labelled pixels held out per class, in spatial blocks
    early_stopping: bool = False               # keep the best validation epoch's weights
    teacher: str | None = None                 # a trained model file: learn its soft logits over the whole scene


@dataclass
class TrainResult:
    """What training produced."""

    model: str
    classes: list[str]
    seconds: float
    final_train_oa: float
    log_file: str | None = None
    report_html: str | None = None


@dataclass
class ClassifyRequest(Request):
    """Classify a whole scene tile by tile with a model file."""

    kind: typing.ClassVar[str] = "classify"
    model: str
    hsi: str
    lidar: str
    out: str                                   # class GeoTIFF, or .npy without GDAL
    confidence: str | None = None              # float32 cosine of the winning prompt
    prompts: str | None = None                 # re-word / re-target: re-encoded with the model's encoder
    tile: int = 0                              # 0 = automatic
    device: str = "auto"
    amp: bool = False                          # bf16 convolutions, float32 head
    threads: int = 0
    resample_lidar: bool = False
    lidar_products: list[str] | None = None    # LiDAR as .las/.laz: None = the model's products
    lidar_fill_radius: int = DEFAULT_FILL_RADIUS
    lidar_crs: str | None = None
    unknown_threshold: str = "none"            # none, auto (the model's per-class thresholds) or a cosine
    runtime: str = "torch"                     # torch, or onnx: ONNX Runtime on the CPU (optional package)
    resample_bands: str = "none"               # none, linear or gaussian: the scene's spectra onto the model's bands


@dataclass
class ClassifyResult:
    """What classification produced, and how long it took."""

    out: str
    confidence: str | None
    classes: list[str]
    colours: list[str]
    pixels: int
    valid_pixels: int
    tiles: int
    device: str
    seconds: float


@dataclass
class EvaluateRequest(Request):
    """Score a classified raster against reference labels and write a report."""

    kind: typing.ClassVar[str] = "evaluate"
    classified: str
    report: str                                # .json or .html: both are written, and PNGs beside
    labels: str | None = None                  # raster / .mat of class ids
    label_vector: str | None = None            # ...or a vector layer
    label_field: str | None = None
    model: str | None = None                   # class names, colours and training curves
    scene: str | None = None
    title: str | None = None
    semi_synthetic: bool = False


@dataclass
class EvaluateResult:
    """Scores and where the report went."""

    report_json: str
    report_html: str
    oa: float
    aa: float
    kappa: float
    text: str


@dataclass
class ImportRequest(Request):
    """A benchmark .mat array as a georeferenced GeoTIFF."""

    kind: typing.ClassVar[str] = "import"
    mat: str                                   # file.mat or file.mat:KEY
    out: str
    data_kind: str = "auto"                    # auto, hsi, lidar, labels
    scene: str | None = None                   # nominal grid, class names
    epsg: int | None = None                    # overrides the scene's
    origin_x: float | None = None
    origin_y: float | None = None
    pixel_size: float | None = None


@dataclass
class ImportResult:
    """The GeoTIFF written, its grid, and its style if it holds classes."""

    out: str
    grid: str
    qml: str | None
    classes: list[str] | None
    colours: list[str] | None


@dataclass
class EncodeRequest(Request):
    """Encode a prompt set's classes with a text encoder (the dock's similarity view)."""

    kind: typing.ClassVar[str] = "encode"
    prompts: str                               # JSON text
    text_encoder: str = defaults.TEXT_ENCODER


@dataclass
class EncodeResult:
    """One unit-length embedding per class."""

    names: list[str]
    embeddings: list[list[float]]


@dataclass
class DemoRequest(Request):
    """Train on Trento (or a rendered scene), classify it, evaluate."""

    kind: typing.ClassVar[str] = "demo"
    out: str = "demo-out"
    data: str | None = None                    # benchmark data folder; None: render a scene
    epochs: int = defaults.EPOCHS
    device: str = "auto"
    seed: int = 0


@dataclass
class DemoResult:
    """The demo's scores and report."""

    oa: float
    aa: float
    kappa: float
    report_html: str
    benchmark: bool                            # False: the rendered synthetic scene


REQUESTS: dict[str, type[Request]] = {r.kind: r for r in (TrainRequest, ClassifyRequest, EvaluateRequest,
                                                          ImportRequest, EncodeRequest, DemoRequest)}
from .rasterise_requests import RasteriseLidarRequest  # noqa: E402 (subclasses Request; app/__init__ imports us first)
REQUESTS[RasteriseLidarRequest.kind] = RasteriseLidarRequest
from .distributed_requests import DistributedClassifyRequest  # noqa: E402 (as above)
REQUESTS[DistributedClassifyRequest.kind] = DistributedClassifyRequest


def request_from_dict(data: dict) -> Request:
    """The request a JSON object describes, by its "kind".

    Args:
        data: a request's `to_dict()`.

    Returns:
        The typed request.

    Raises:
        InputError: unknown kind, or a bad field.
    """
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in REQUESTS:
        raise InputError(f"unknown request kind {kind!r}; known: {', '.join(REQUESTS)}")
    return REQUESTS[kind].from_dict(data)


def result_to_dict(result: typing.Any) -> dict:
    """Returns: a result dataclass as a JSON-serialisable dict."""
    return dataclasses.asdict(result)


__all__ = ["Request", "REQUESTS", "request_from_dict", "result_to_dict", "field",
           *[c.__name__ for c in REQUESTS.values()]]
