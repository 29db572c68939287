"""Training / reference labels and the prompt set that names their classes, checked together."""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.pipeline import WindowSource
from ..core.prompts import PromptSet, load_prompt_set, names_prompt_set, scene_prompt_set
from ..core.reporter import Reporter
from .sources import read_labels


def choose_prompt_set(prompts: str | None = None, project_json: str | None = None, scene: str | None = None,
                      n_classes: int | None = None) -> tuple[PromptSet, str]:
    """The first of: explicit prompts, the QGIS project's set, the scene's set, bare 'class N' names.

    Args:
        prompts: JSON text or a .json path.
        project_json: the project's prompt set (JSON).
        scene: a benchmark scene name.
        n_classes: how many bare names to make, as a last resort.

    Returns:
        (prompt set, where it came from).
    """
    if prompts and prompts.strip():
        return load_prompt_set(prompts.strip()), "the given prompts"
    if project_json and project_json.strip():
        return load_prompt_set(project_json), "the project's prompt set"
    if scene:
        return scene_prompt_set(scene), f"the {scene} prompt set"
    if n_classes:
        return names_prompt_set([f"class {i}" for i in range(1, n_classes + 1)]), "bare class names"
    raise InputError("no class names: give a prompt set (JSON) or a benchmark scene")


def labels_on_grid(spec: str | None, like: WindowSource, vector: str | None = None, field: str | None = None,
                   class_names: list[str] | None = None, compact: bool = False) -> np.ndarray:
    """Class ids (0 = none) on the grid of `like`.

    Args:
        spec: a label raster / .mat.
        like: the source whose grid the labels must share.
        vector: ...or a vector layer, rasterised (and reprojected) onto that grid.
        field: the vector's class field: integer ids, or class names matched to class_names.
        class_names: the classes' names, for a field of names.
        compact: a label raster's ids in the smallest unsigned type that holds them (large scenes).

    Returns:
        (H, W) class ids.
    """
    if vector:
        if not field:
            raise InputError("a vector label layer needs the name of its class field")
        if getattr(like, "grid", None) is None:
            raise InputError("vector labels need a georeferenced raster to rasterise onto")
        from ..raster.vector_labels import rasterize_labels
        return rasterize_labels(vector, field, like.grid, class_names=class_names)
    if not spec:
        raise InputError("give labels: a raster of class ids or a vector layer and field")
    return read_labels(spec, like=like, compact=compact)


def training_inputs(hsi: WindowSource, labels_spec: str | None, vector: str | None, field: str | None,
                    prompts: str | None, project_json: str | None, scene: str | None,
                    reporter: Reporter) -> tuple[np.ndarray, PromptSet]:
    """Labels and the prompt set naming their classes, checked together.

    Args:
        hsi: the HSI source (grid and size).
        labels_spec: label raster / .mat.
        vector: ...or a vector layer.
        field: its class field.
        prompts: explicit prompts (JSON text or path).
        project_json: the QGIS project's prompt set.
        scene: a benchmark scene.
        reporter: logs where the classes came from; warns about thin classes.

    Returns:
        (labels, prompt set).
    """
    named = bool((prompts and prompts.strip()) or (project_json and project_json.strip()) or scene)
    prompt_set = source = None
    if named:  # first, so a vector field of class names can be matched to the classes
        prompt_set, source = choose_prompt_set(prompts, project_json, scene)
    # compact: a training scene may be far larger than memory (only its labels are held whole)
    labels = labels_on_grid(labels_spec, hsi, vector, field, prompt_set.names if prompt_set else None, compact=True)
    where = vector or labels_spec
    if not labels.any():
        raise InputError(f"the training labels ({where}) hold no labelled pixel: every value is 0 or nodata")
    if labels.min() < 0:
        raise InputError(f"the training labels ({where}) hold class id {int(labels.min())}; ids are 1..N, 0 = none")
    if prompt_set is None:
        prompt_set, source = choose_prompt_set(n_classes=int(labels.max()))
    reporter.log(f"classes from {source}: {', '.join(prompt_set.names[:20])}"
                 f"{' ...' if len(prompt_set.names) > 20 else ''}")
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    if ids.max() > len(prompt_set.classes):
        missing = [int(i) for i in ids if i > len(prompt_set.classes)]
        raise InputError(f"the training labels ({where}) hold class id(s) {', '.join(map(str, missing[:10]))}, "
                         f"beyond the {len(prompt_set.classes)} classes of {source} "
                         f"({', '.join(prompt_set.names[:10])}{', ...' if len(prompt_set.names) > 10 else ''})")
    for k, n in zip(ids, counts):
        if n < 5:
            reporter.warning(f"class {k} '{prompt_set.names[k - 1]}' has only {n} labelled pixel(s); "
                             f"its accuracy will be unreliable")
    unlabelled = sorted(set(range(1, len(prompt_set.classes) + 1)) - {int(i) for i in ids})
    if unlabelled:
        reporter.warning(f"no labelled pixel for class(es) {', '.join(map(str, unlabelled[:20]))}: the model "
                         f"learns them from their prompts alone")
    return labels, prompt_set
