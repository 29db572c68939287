"""--resample-bands on a semi-synthetic sensor change: the Trento model (63 bands, 402.9-989.1 nm) applied to
the Trento scene re-rendered at 48 bands and classified with --resample-bands back to the model's 63.

The 48-band scene: centres evenly spaced over the same 402.9-989.1 nm (12.47 nm apart), Gaussian responses
of FWHM 1.1 x that spacing (13.7 nm), made from the 63-band cube with core.spectral_resample (the 63 bands
taken as FWHM = their 9.45 nm spacing: the semi-synthetic cube records none), written as ENVI with its
`wavelength` and `fwhm`. Accuracies are on semi-synthetic HSI over real labels and LiDAR
(../shared/data/README.md), test labels TSLabel; the model is demo-out/model.safetensors (`make demo`:
TRLabel, default settings). One torch thread, device cpu, through app.run(ClassifyRequest) as the CLI does.

    .venv/bin/python benchmarks/bench_resample_bands.py --data ../shared/data --model demo-out/model.safetensors
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import commit, machine  # noqa: E402
from mmlgnet_qgis import app  # noqa: E402
from mmlgnet_qgis.app.requests import ClassifyRequest  # noqa: E402
from mmlgnet_qgis.core.errors import InputError  # noqa: E402
from mmlgnet_qgis.core.metrics import accuracy_report  # noqa: E402
from mmlgnet_qgis.core.model_file import read_manifest  # noqa: E402
from mmlgnet_qgis.core.reporter import NullReporter  # noqa: E402
from mmlgnet_qgis.core.scenes import SCENES, as_bands_last, as_labels, load_mat_array, load_wavelengths  # noqa: E402
from mmlgnet_qgis.core.spectral_resample import band_spacing_fwhm, resample_matrix  # noqa: E402

TARGET_BANDS = (48, 24, 63)  # 63: the control (the model's centres, the 48-band scene's band widths)
FWHM_PER_SPACING = 1.1


def write_envi(path: Path, cube: np.ndarray, centres, fwhm) -> str:
    from osgeo import gdal
    ds = gdal.GetDriverByName("ENVI").Create(str(path), cube.shape[2], cube.shape[1], cube.shape[0], gdal.GDT_Float32)
    for i, band in enumerate(cube):
        ds.GetRasterBand(i + 1).WriteArray(band)
    ds = None
    with open(path.with_suffix(".hdr"), "a", encoding="utf-8") as f:
        f.write("wavelength units = Nanometers\n")
        f.write("wavelength = {" + ", ".join(f"{c:.4f}" for c in centres) + "}\n")
        f.write("fwhm = {" + ", ".join(f"{w:.4f}" for w in fwhm) + "}\n")
    return str(path)


def render(cube, src_nm, src_fwhm, tgt_nm, tgt_fwhm, path):
    """The cube seen through Gaussian responses at tgt_nm (core.spectral_resample), as ENVI with wavelength + fwhm."""
    weights = resample_matrix(src_nm, tgt_nm, "gaussian", source_fwhm=src_fwhm, target_fwhm=tgt_fwhm)
    scene = (weights @ cube.reshape(cube.shape[0], -1)).reshape(len(tgt_nm), *cube.shape[1:])
    return write_envi(path, scene, tgt_nm, tgt_fwhm)


def classify(model, hsi, lidar, out, resample, log):
    lines = []

    class Rep(NullReporter):  # log lines kept
        def log(self, m):
            lines.append(m)

        def warning(self, m):
            lines.append("warning: " + m)

    t = time.perf_counter()
    req = ClassifyRequest(model=model, hsi=hsi, lidar=lidar, out=str(out), device="cpu", threads=1,
                          resample_bands=resample)
    try:
        app.run(req, Rep())
    except InputError as exc:
        log.append(f"refused: {exc}")
        return None, time.perf_counter() - t, str(exc)
    log.extend(lines)
    return np.load(out), time.perf_counter() - t, None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--model", default="demo-out/model.safetensors")
    ap.add_argument("--out", default="benchmarks/results/resample_bands.md")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    root = Path(args.data) / "trento"
    tmp = Path(tempfile.mkdtemp(prefix="bench-resample-"))
    try:
        model = str(tmp / "model.safetensors")
        shutil.copy(args.model, model)  # demo-out may be rebuilt meanwhile
        sha = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16]
        man = read_manifest(model)
        hsi_mat, lidar = str(root / "HSI.mat"), str(root / "LiDAR.mat")
        cube = np.moveaxis(as_bands_last(load_mat_array(hsi_mat)), -1, 0).astype(np.float32)
        src_nm = np.asarray(load_wavelengths(hsi_mat), float)
        assert np.allclose(src_nm, man.wavelengths_nm, atol=0.01), "the model's bands are the scene's"
        src_fwhm = band_spacing_fwhm(src_nm)
        names = list(SCENES["trento"].class_names)
        test = as_labels(load_mat_array(str(root / "TSLabel.mat")))
        runs, log, scenes = {}, [], {}
        reference, secs, _ = classify(model, hsi_mat, lidar, tmp / "orig.npy", "none", log)
        runs["original 63-band scene"] = (reference, secs, None)
        for bands in TARGET_BANDS:
            tgt_nm = np.linspace(src_nm.min(), src_nm.max(), bands)
            spacing = (src_nm.max() - src_nm.min()) / ((48 if bands == len(src_nm) else bands) - 1)
            tgt_fwhm = [FWHM_PER_SPACING * spacing] * bands
            path = render(cube, src_nm, src_fwhm, tgt_nm, tgt_fwhm, tmp / f"trento_{bands}.img")
            scenes[bands] = {"centres_nm": [round(float(c), 3) for c in tgt_nm], "fwhm_nm": round(tgt_fwhm[0], 3)}
            if bands == len(src_nm):  # the control: same centres, wider responses, no band change
                runs[f"control: 63 bands blurred to FWHM {tgt_fwhm[0]:.1f} nm (no resampling needed)"] = classify(
                    model, path, lidar, tmp / "control.npy", "none", log)
                continue
            runs[f"{bands}-band scene, no resampling"] = classify(model, path, lidar, tmp / f"{bands}_none.npy",
                                                                   "none", log)
            for method in ("linear", "gaussian"):
                runs[f"{bands}-band scene (FWHM {tgt_fwhm[0]:.1f} nm), --resample-bands {method}"] = classify(
                    model, path, lidar, tmp / f"{bands}_{method}.npy", method, log)
        rows = []
        for name, (pred, secs, refused) in runs.items():
            if pred is None:
                rows.append({"run": name, "refused": refused, "seconds": secs})
                continue
            rep = accuracy_report(test, pred, names)
            rows.append({"run": name, "oa": rep["oa"], "aa": rep["aa"], "kappa": rep["kappa"],
                         "agreement": float((pred == reference).mean() * 100), "seconds": secs})
        meta = {"machine": machine(), "commit": commit(), "model": args.model, "model_sha256_16": sha,
                "command": "python " + " ".join(sys.argv), "scenes": scenes,
                "source_fwhm_assumed_nm": round(float(np.median(src_fwhm)), 3),
                "log": [line for line in log if "resampled" in line or "FWHM" in line or "refused" in line]}
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1), encoding="utf-8")
        print(json.dumps({"meta": meta, "rows": rows}, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
