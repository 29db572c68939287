"""Knowledge distillation (core/distill.py): the loss, a student learning its teacher, the model file."""
import numpy as np
import pytest
import torch

from mmlgnet_qgis.core.distill import distillation_loss, ensemble_logits, fit_student, scene_logits
from mmlgnet_qgis.core.errors import InputError, ModelFileError
from mmlgnet_qgis.core.manifest import ClassInfo, Manifest
from mmlgnet_qgis.core.model import MMLGNet, ModelConfig
from mmlgnet_qgis.core.model_file import load_model, read_manifest, save_model
from mmlgnet_qgis.core.pipeline import ArraySink, ArraySource, classify
from mmlgnet_qgis.core.training import TrainConfig, train_model

STUDENT = {"patch_size": 7, "hsi_width": 4, "lidar_width": 2, "fusion_width": 8}


def test_loss_is_zero_when_the_student_gives_the_teachers_logits():
    logits = torch.randn(32, 5) * 4
    for t in (1.0, 2.0, 4.0):
        assert distillation_loss(logits.clone(), logits, t).abs().item() < 1e-5
    assert distillation_loss(torch.randn(32, 5), logits, 2.0).item() > 0.1


def test_loss_pulls_the_student_towards_the_teacher():
    teacher = torch.randn(16, 4) * 3
    student = torch.zeros(16, 4, requires_grad=True)
    opt = torch.optim.Adam([student], lr=0.3)
    first = None
    for _ in range(200):
        loss = distillation_loss(student, teacher, 2.0)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    assert (student.argmax(1) == teacher.argmax(1)).all()


@pytest.fixture(scope="module")
def trained_teacher():
    """A 24 x 30 scene of 3 classes in blocks, few labels, and a teacher trained on them."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(1, 4, (4, 5)), 6, 0), 6, 1)
    hsi = (rng.normal(size=(5, 24, 30)) * 0.4 + labels[None] * np.array([1, -1, 2, 0, 1])[:, None, None])
    lidar = labels[None] * 2.0 + rng.normal(size=(1, 24, 30)) * 0.3
    hsi, lidar = hsi.astype(np.float32), lidar.astype(np.float32)
    train = np.where(rng.random(labels.shape) < 0.15, labels, 0)
    emb = np.eye(3, 8, dtype=np.float32)
    cfg = TrainConfig(epochs=6, seed=0, device="cpu", model={"patch_size": 7, "hsi_width": 8, "lidar_width": 4,
                                                             "fusion_width": 12})
    mean = lambda a: a.reshape(a.shape[0], -1).mean(1)  # noqa: E731
    std = lambda a: a.reshape(a.shape[0], -1).std(1)  # noqa: E731
    norm = {"hsi_mean": mean(hsi).tolist(), "hsi_std": std(hsi).tolist(),
            "lidar_mean": mean(lidar).tolist(), "lidar_std": std(lidar).tolist()}
    z = lambda a, k: (a - np.array(norm[f"{k}_mean"], np.float32)[:, None, None]) / np.array(  # noqa: E731
        norm[f"{k}_std"], np.float32)[:, None, None]
    teacher, history = train_model(z(hsi, "hsi"), z(lidar, "lidar"), train, emb, cfg)
    manifest = Manifest(hsi_bands=5, lidar_bands=1, model=teacher.cfg.to_dict(),
                        classes=[ClassInfo(i, f"c{i}", "#102030") for i in (1, 2, 3)],
                        text_encoder={"kind": "hash", "model": "hash", "dim": 8},
                        class_embeddings=teacher.class_embeddings.tolist(), normalisation=norm,
                        training={"config": cfg.to_dict()}, history=history)
    return hsi, lidar, train, teacher, manifest


def test_a_distilled_student_agrees_with_its_teacher_more_than_an_untrained_one(trained_teacher):
    hsi, lidar, train, teacher, tman = trained_teacher
    cfg = TrainConfig(epochs=10, batch_size=16, seed=1, device="cpu", model=dict(STUDENT), teacher_pixels=64)
    student, manifest, _ = fit_student(ArraySource(hsi, "HSI"), ArraySource(lidar, "LiDAR"), train, teacher, tman,
                                       cfg, source={"teacher": "t.safetensors"})
    torch.manual_seed(1)
    untrained = MMLGNet(ModelConfig(hsi_bands=5, lidar_bands=1, embed_dim=8, **STUDENT), teacher.class_embeddings)
    norm = tman.normalisation
    z = lambda a, k: ((a - np.array(norm[f"{k}_mean"], np.float32)[:, None, None])  # noqa: E731
                      / np.array(norm[f"{k}_std"], np.float32)[:, None, None])
    h, l = z(hsi, "hsi"), z(lidar, "lidar")
    t_ids = scene_logits(teacher, h, l).argmax(0)
    agree = (scene_logits(student, h, l).argmax(0) == t_ids).mean()
    before = (scene_logits(untrained.eval(), h, l).argmax(0) == t_ids).mean()
    assert agree > 0.8 and agree > before + 0.2, (agree, before)
    rec = manifest.distilled_from
    assert rec["teacher"] == "t.safetensors" and rec["model"] == tman.model
    assert abs(rec["agreement_valid"] - 100 * agree) < 1e-6  # what fit_student measured is what we measure
    assert manifest.training["config"]["model"] == STUDENT


def test_the_student_is_a_normal_model_file_that_records_its_teacher(trained_teacher, tmp_path):
    hsi, lidar, train, teacher, tman = trained_teacher
    cfg = TrainConfig(epochs=2, seed=0, device="cpu", model=dict(STUDENT))
    student, manifest, _ = fit_student(ArraySource(hsi, "HSI"), ArraySource(lidar, "LiDAR"), train, teacher, tman,
                                       cfg, source={"teacher": "teacher.safetensors", "sha256": "ab" * 32})
    path = tmp_path / "student.safetensors"
    save_model(path, student, manifest)
    assert read_manifest(path).distilled_from["sha256"] == "ab" * 32
    model, man = load_model(path)
    assert man.distilled_from["teacher"] == "teacher.safetensors"
    assert man.names == tman.names and man.normalisation == tman.normalisation
    assert man.model["fusion_width"] == 8 and man.text_encoder == tman.text_encoder
    assert np.allclose(man.class_embeddings, tman.class_embeddings)
    sink = ArraySink(24, 30, np.uint16, 0)
    classify(model, man.normalisation, ArraySource(hsi), ArraySource(lidar), sink, tile=16, device="cpu")
    assert sink.array.min() >= 1 and sink.array.max() <= 3
    # a teacher-free model file has no record; a damaged record is refused naming the key
    assert read_manifest(path).to_dict()["distilled_from"]["weight"] == cfg.teacher_weight
    bad = man.to_dict()
    bad["distilled_from"] = {"weight": "heavy"}
    with pytest.raises(ModelFileError, match="distilled_from.weight"):
        Manifest.from_dict({**bad, "format": "mmlgnet-model", "format_version": 1}, "m")


def test_scene_logits_are_exact_per_pixel_whatever_the_tile(trained_teacher):
    hsi, lidar, _, teacher, tman = trained_teacher
    h = (hsi - hsi.mean((1, 2), keepdims=True)) / hsi.std((1, 2), keepdims=True)
    l = (lidar - lidar.mean()) / lidar.std()
    whole = scene_logits(teacher, h, l, tile=256)
    assert np.allclose(scene_logits(teacher, h, l, tile=7), whole, atol=1e-4)
    # one pixel's own patch (the per-pixel formulation) gives the same logits
    from mmlgnet_qgis.core.training import gather_patches, pad_scene
    hp, lp = pad_scene(h, 3, "cpu"), pad_scene(l, 3, "cpu")
    r, c = torch.tensor([0, 11, 23]), torch.tensor([0, 17, 29])
    with torch.no_grad():
        per_pixel = teacher.eval()(gather_patches(hp, r, c, 7), gather_patches(lp, r, c, 7))["logits"][:, :, 0, 0]
    assert np.allclose(per_pixel.numpy(), whole[:, r, c].T, atol=1e-4)


def test_a_teacher_of_other_bands_or_classes_is_refused(trained_teacher):
    hsi, lidar, train, teacher, tman = trained_teacher
    cfg = TrainConfig(epochs=1, device="cpu", model=dict(STUDENT))
    with pytest.raises(InputError, match="teacher was trained on 5 HSI"):
        fit_student(ArraySource(hsi[:4], "HSI"), ArraySource(lidar, "LiDAR"), train, teacher, tman, cfg)
    with pytest.raises(InputError, match="teacher knows 3 classes"):
        fit_student(ArraySource(hsi, "HSI"), ArraySource(lidar, "LiDAR"), np.where(train > 0, 4, 0), teacher,
                    tman, cfg)


def test_a_pca_front_end_starts_as_whitened_principal_components_and_stays_exact(tmp_path):
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(9, 3))
    hsi = (mix @ rng.normal(size=(3, 20 * 22)) + 0.01 * rng.normal(size=(9, 20 * 22))).reshape(9, 20, 22)
    hsi = hsi.astype(np.float32)
    lidar = rng.normal(size=(1, 20, 22)).astype(np.float32)
    cfg = ModelConfig(hsi_bands=9, lidar_bands=1, embed_dim=8, patch_size=7, hsi_width=6, lidar_width=2,
                      fusion_width=8, hsi_reduce=3)
    torch.manual_seed(0)
    model = MMLGNet(cfg, torch.randn(4, 8))
    model.init_hsi_reduce(torch.as_tensor(hsi))
    with torch.no_grad():
        z = model.hsi_reduce(torch.as_tensor(hsi)[None])[0].reshape(3, -1).double()
    assert np.allclose(torch.cov(z).numpy(), np.eye(3), atol=1e-3)  # three whitened components
    assert model.hsi_encoder[0][0].in_channels == 3
    model.eval()
    whole = scene_logits(model, hsi, lidar, tile=256)
    assert np.allclose(scene_logits(model, hsi, lidar, tile=5), whole, atol=1e-4)   # tiled = per pixel
    from mmlgnet_qgis.core.training import gather_patches, pad_scene
    r, c = torch.tensor([0, 9, 19]), torch.tensor([0, 13, 21])
    with torch.no_grad():
        per_pixel = model(gather_patches(pad_scene(hsi, 3, "cpu"), r, c, 7),
                          gather_patches(pad_scene(lidar, 3, "cpu"), r, c, 7))["logits"][:, :, 0, 0]
    assert np.allclose(per_pixel.numpy(), whole[:, r, c].T, atol=1e-4)
    man = Manifest(hsi_bands=9, lidar_bands=1, model=cfg.to_dict(), classes=[ClassInfo(i, f"c{i}", "#000000")
                                                                              for i in range(1, 5)],
                   text_encoder={"kind": "hash", "model": "hash", "dim": 8},
                   normalisation={"hsi_mean": [0.0] * 9, "hsi_std": [1.0] * 9, "lidar_mean": [0.0],
                                  "lidar_std": [1.0]})
    save_model(tmp_path / "m.safetensors", model, man)
    loaded, lman = load_model(tmp_path / "m.safetensors")
    assert lman.model["hsi_reduce"] == 3
    assert np.allclose(scene_logits(loaded, hsi, lidar), whole, atol=1e-5)


def test_a_plain_classifier_teaches_a_prompt_student_and_is_never_written(trained_teacher, tmp_path):
    """The same network with a linear head (no text) as the teacher: the student keeps the prompts."""
    hsi, lidar, train, _, tman = trained_teacher
    norm = tman.normalisation
    z = lambda a, k: ((a - np.array(norm[f"{k}_mean"], np.float32)[:, None, None])  # noqa: E731
                      / np.array(norm[f"{k}_std"], np.float32)[:, None, None])
    h, l = z(hsi, "hsi"), z(lidar, "lidar")
    prompts = np.asarray(tman.class_embeddings, np.float32)
    cfg = TrainConfig(epochs=20, seed=0, device="cpu", head="linear", label_smoothing=0.0,
                      model={"patch_size": 7, "hsi_width": 8, "lidar_width": 4, "fusion_width": 12})
    linear, _ = train_model(h, l, train, prompts, cfg)
    assert not np.allclose(linear.class_embeddings.numpy(), prompts)   # it holds random prototypes
    lman = Manifest.from_dict({**tman.to_dict(), "training": {"config": cfg.to_dict()}, "format": "mmlgnet-model",
                               "format_version": 1}, "linear")
    t_logits = scene_logits(linear, h, l, tile=256, head="linear")
    assert np.allclose(scene_logits(linear, h, l, tile=7, head="linear"), t_logits, atol=1e-4)
    assert not np.allclose(scene_logits(linear, h, l, tile=256), t_logits, atol=1e-2)  # not the cosine logits
    agree = {}
    for weight in (1.0, 0.0):   # with and without the teacher's scores
        scfg = TrainConfig(epochs=25, batch_size=16, seed=1, device="cpu", model=dict(STUDENT), teacher_pixels=64,
                           teacher_weight=weight, teacher_temperature=1.0)
        student, manifest, _ = fit_student(ArraySource(hsi, "HSI"), ArraySource(lidar, "LiDAR"), train, linear,
                                           lman, scfg)
        agree[weight] = (scene_logits(student, h, l).argmax(0) == t_logits.argmax(0)).mean()
        # measured against the linear logits, and classifying by the prompts
        assert abs(manifest.distilled_from["agreement_valid"] - 100 * agree[weight]) < 1e-6
        assert manifest.distilled_from["head"] == "linear"
        assert np.allclose(student.class_embeddings.numpy(), prompts, atol=1e-6)
    assert agree[1.0] > agree[0.0] + 0.03, agree
    save_model(tmp_path / "student.safetensors", student, manifest)
    with pytest.raises(InputError, match="head 'linear'.*only teaches"):
        save_model(tmp_path / "linear.safetensors", linear, lman)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.safetensors"]
    # both teachers at once: the prompt teacher and the plain classifier, their distributions averaged
    text_teacher = trained_teacher[3]
    _, both, _ = fit_student(ArraySource(hsi, "HSI"), ArraySource(lidar, "LiDAR"), train, text_teacher, tman,
                             TrainConfig(epochs=1, seed=1, device="cpu", model=dict(STUDENT)),
                             more_teachers=((linear, "linear"),))
    assert both.distilled_from["head"] == "text+linear"


def test_several_teachers_are_averaged_as_distributions_whatever_their_logit_scales():
    rng = np.random.default_rng(0)
    cosine = (rng.uniform(-1, 1, (4, 3, 5)) * 14).astype(np.float32)   # scaled cosines
    linear = rng.normal(0, 2, (4, 3, 5)).astype(np.float32)            # a plain classifier's logits
    linear[:, 1, 2] = np.nan                                           # an invalid pixel stays invalid
    t = 2.0
    soft = lambda x: torch.softmax(torch.as_tensor(x, dtype=torch.float64) / t, 0)  # noqa: E731
    both = ensemble_logits([cosine, linear], t)
    assert both.shape == cosine.shape and both.dtype == np.float32
    assert np.isnan(both[:, 1, 2]).all() and np.isfinite(np.delete(both.reshape(4, -1), 7, 1)).all()
    expect = 0.5 * (soft(cosine) + soft(linear))
    assert np.allclose(soft(both).numpy(), expect.numpy(), atol=1e-5, equal_nan=True)
    assert ensemble_logits([cosine], t) is cosine
    # the target the student sees is that mean: zero loss for a student that outputs it
    flat = lambda x: torch.as_tensor(np.delete(x.reshape(4, -1), 7, 1).T)  # noqa: E731
    assert distillation_loss(flat(both), flat(both), t).item() < 1e-5
    assert distillation_loss(flat(cosine), flat(both), t).item() > 1e-3
