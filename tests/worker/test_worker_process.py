"""Real worker processes: requests, persistence, cancel, and crash containment (SIGKILL, SIGSEGV)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from worker_support import PROMPTS, Recorder, leftovers

from mmlgnet_qgis.app.requests import ClassifyRequest, ClassifyResult, EncodeRequest, EncodeResult, TrainRequest
from mmlgnet_qgis.core.errors import Cancelled, InputError, ModelFileError, WorkerError
from mmlgnet_qgis.worker.client import WorkerProcess, run_in_worker

HEAVY = ("torch", "transformers", "open_clip", "sentence_transformers", "triton")


def test_the_qgis_side_imports_no_torch():
    code = ("import sys, mmlgnet_qgis.worker.client, mmlgnet_qgis.worker.environment, "
            "mmlgnet_qgis.worker.installer, mmlgnet_qgis.app.requests; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_persistent_worker_encodes_and_self_checks(python):
    with WorkerProcess(python) as worker:
        assert worker.start() < 30
        first = Recorder()
        t0 = time.perf_counter()
        a = worker.run(EncodeRequest(prompts=PROMPTS), first)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = worker.run(EncodeRequest(prompts=PROMPTS).to_dict())
        warm = time.perf_counter() - t0
        pid = worker.pid
        check = worker.selfcheck()
        assert worker.pid == pid, "one process answered all three requests"
    assert isinstance(a, EncodeResult) and a.names == ["Apple trees", "Buildings", "Roads"]
    emb = np.asarray(a.embeddings)
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert np.array_equal(emb, np.asarray(b.embeddings))
    assert first.of("progress")[-1][1:3] == (100.0, 100.0)
    assert warm < cold / 3, f"the encoder stays loaded: {warm:.2f} s vs {cold:.2f} s"
    assert check["problems"] == [] and check["forward"] and check["text_encoder"].startswith("all-MiniLM-L6-v2")
    assert check["line"].startswith(f"torch {check['torch'].split('+')[0]} · ")
    assert not worker.alive


def test_errors_come_back_as_their_class_and_the_worker_goes_on(python, tmp_path):
    with WorkerProcess(python) as worker:
        with pytest.raises(InputError, match="classes"):
            worker.run(EncodeRequest(prompts='{"classes": 5}'))
        with pytest.raises(ModelFileError, match="not found"):
            worker.run(ClassifyRequest(model=str(tmp_path / "none.safetensors"), hsi="a.tif", lidar="b.tif",
                                       out=str(tmp_path / "c.tif")))
        assert worker.run(EncodeRequest(prompts=PROMPTS)).names[0] == "Apple trees"


def test_train_and_classify_through_the_worker(python, scene, tmp_path):
    out = tmp_path / "classes.tif"
    rec = Recorder()
    result = run_in_worker(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"],
                                           out=str(out), tile=32, threads=1), rec, python=python, describe=True)
    assert rec.of("log")[0][1].startswith("MMLGNet worker: torch ")
    assert isinstance(result, ClassifyResult) and result.tiles == 12 and out.is_file()
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        run_in_worker(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"],
                                      out=str(tmp_path / "missing" / "c.tif")), python=python)
    assert len(rec.of("progress")) >= 12 and rec.of("log")
    from osgeo import gdal
    labels = gdal.Open(str(out)).ReadAsArray()
    assert (labels == scene["classes"]).mean() > 0.9


def _kill_once(worker, sig, folder=None):
    def act(rec):
        if not getattr(rec, "killed", False):
            rec.killed = True
            rec.partials_at_kill = leftovers(folder) if folder else []
            os.kill(worker.pid, sig)
    return act


def test_sigkill_mid_classify_is_a_clear_error_and_leaves_no_file(python, scene, tmp_path):
    out, conf = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    worker = WorkerProcess(python, env={"OMP_NUM_THREADS": "1"})
    worker.start()
    # kill on the first tile's progress: the class and confidence rasters are half written
    rec = Recorder()
    rec.on_progress = _kill_once(worker, signal.SIGKILL, tmp_path)
    with pytest.raises(WorkerError) as err:
        worker.run(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"], out=str(out),
                                   confidence=str(conf), tile=16, threads=1), rec)
    message = str(err.value)
    assert "SIGKILL" in message and "out-of-memory" in message and "QGIS is fine" in message
    assert "Last log lines" in message and "classifying" in message
    assert err.value.signal_name == "SIGKILL"
    assert len(rec.partials_at_kill) == 2, "both rasters were being written when the worker died"
    assert leftovers(tmp_path) == [] and not out.exists() and not conf.exists()
    # the next request starts a new worker
    assert worker.run(EncodeRequest(prompts=PROMPTS)).names[0] == "Apple trees"
    worker.close()


def test_sigkill_mid_train_leaves_no_model(python, scene, tmp_path):
    out = tmp_path / "model.safetensors"
    worker = WorkerProcess(python, env={"OMP_NUM_THREADS": "1"})
    worker.start()
    rec = Recorder(on_progress=None)
    rec.on_progress = _kill_once(worker, signal.SIGKILL)
    with pytest.raises(WorkerError, match="SIGKILL"):
        worker.run(TrainRequest(hsi=scene["hsi"], lidar=scene["lidar"], train_labels=scene["labels"],
                                prompts=PROMPTS, out=str(out), epochs=50, patch_size=7, hsi_width=8, lidar_width=4,
                                fusion_width=16, threads=1, log_file=str(tmp_path / "train.log"),
                                report_html=str(tmp_path / "train.html")), rec)
    worker.close()
    assert sorted(os.listdir(tmp_path)) == []


def test_segfault_is_a_clear_error(python):
    rec = Recorder()
    with pytest.raises(WorkerError) as err:
        run_in_worker(EncodeRequest(prompts=PROMPTS), rec, python=python,
                      env={"MMLGNET_WORKER_TEST_CRASH": "segv"})
    message = str(err.value)
    assert "SIGSEGV" in message and "Try device 'cpu'" in message
    assert "Segmentation fault" in message, "faulthandler's trace is in the last lines"
    assert len(rec.of("progress")) == 1


def test_a_dead_worker_is_noticed_while_its_child_holds_the_pipe(python):
    t0 = time.perf_counter()
    with pytest.raises(WorkerError, match="SIGSEGV"):
        run_in_worker(EncodeRequest(prompts=PROMPTS), python=python, env={"MMLGNET_WORKER_TEST_CRASH": "fork-segv"})
    assert time.perf_counter() - t0 < 15, "the client waited for the child's end-of-file"


def test_a_worker_that_exits_is_named_by_its_exit_code(python):
    with pytest.raises(WorkerError, match="exit code 3"):
        run_in_worker(EncodeRequest(prompts=PROMPTS), python=python, env={"MMLGNET_WORKER_TEST_CRASH": "exit"})


def test_cancel_stops_the_request_and_keeps_the_worker(python, scene, tmp_path):
    out = tmp_path / "classes.tif"

    def cancel(rec):
        rec.cancelled = True
    with WorkerProcess(python, env={"OMP_NUM_THREADS": "1"}) as worker:
        pid = worker.pid if worker.start() else None
        with pytest.raises(Cancelled):
            worker.run(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"], out=str(out),
                                       tile=16, threads=1), Recorder(on_progress=cancel))
        assert worker.alive and worker.pid == pid
        assert leftovers(tmp_path) == [] and not out.exists()
        assert worker.run(EncodeRequest(prompts=PROMPTS)).names[0] == "Apple trees"


def test_cancel_terminates_a_worker_that_does_not_stop(python):
    def cancel(rec):
        rec.cancelled = True
    worker = WorkerProcess(python, env={"MMLGNET_WORKER_TEST_CRASH": "hang"}, cancel_grace_s=1.0, kill_grace_s=1.0)
    t0 = time.perf_counter()
    with pytest.raises(Cancelled, match="worker was stopped"):
        worker.run(EncodeRequest(prompts=PROMPTS), Recorder(on_progress=cancel))
    assert time.perf_counter() - t0 < 60 and not worker.alive
    worker.close()


def test_interpreters_that_cannot_run_the_worker_are_reported(tmp_path):
    with pytest.raises(WorkerError, match="cannot start the MMLGNet worker"):
        WorkerProcess(str(tmp_path / "no-python")).start()
    with pytest.raises(WorkerError, match="did not start"):
        WorkerProcess("/bin/false").start()


def test_an_interpreter_without_torch_fails_its_self_check_not_qgis():
    if not os.path.isfile("/usr/bin/python3"):
        pytest.skip("no system python3")
    from mmlgnet_qgis.worker.installer import run_selfcheck
    check = run_selfcheck("/usr/bin/python3")
    assert check["torch"] is None and "import torch failed" in check["problems"][0]
    assert check["line"].startswith("no torch")


def test_a_worker_whose_qgis_died_stops_and_leaves_no_file(python, scene, tmp_path):
    """QGIS gone (its end of the pipe closed) mid-classify: the worker cancels, cleans up and exits."""
    out = tmp_path / "classes.tif"
    worker = WorkerProcess(python, env={"OMP_NUM_THREADS": "1"})
    worker.start()

    def parent_dies(rec):
        if not getattr(rec, "closed", False):
            rec.closed = True
            worker.proc.stdin.close()
    with pytest.raises((Cancelled, WorkerError)):
        worker.run(ClassifyRequest(model=scene["model"], hsi=scene["hsi"], lidar=scene["lidar"], out=str(out),
                                   tile=16, threads=1), Recorder(on_progress=parent_dies))
    assert worker.proc.wait(30) == 0, "it left by itself, normally"
    assert leftovers(tmp_path) == [] and not out.exists()
    worker.close()
