import numpy as np
import pytest

from mmlgnet_qgis.core import metrics
from mmlgnet_qgis.core.metrics import accuracy_report, confusion_matrix

# Hand-worked 3-class example (row 3 of the maps is unlabelled and must be ignored).
# Pixel by pixel (reference -> predicted):
#   1->1, 1->1, 1->1, 1->2, 2->2, 2->2, 2->3, 3->3, 3->1, 3->0 (unclassified)
# Confusion (rows ref, cols pred 1..3):   [[3,1,0],[0,2,1],[1,0,1]]  + 1 unclassified in class 3
# N = 10, correct = 3+2+1 = 6                      -> OA = 60 %
# per class: 3/4 = 75, 2/3 = 66.667, 1/3 = 33.333  -> AA = 175/3 = 58.333 %
# Kappa: row totals (incl. unclassified) 4,3,3; predicted column totals 4,3,2 (+1 unclassified
#   matching no row).  p_o = 0.6,  p_e = (4*4 + 3*3 + 3*2) / 10^2 = 0.31
#   kappa = (0.6 - 0.31) / (1 - 0.31) = 0.29 / 0.69 = 0.4202899 -> 42.029 %
REF = np.array([[1, 1, 1, 1, 2],
                [2, 2, 3, 3, 3],
                [0, 0, 0, 0, 0]])
PRED = np.array([[1, 1, 1, 2, 2],
                 [2, 3, 3, 1, 0],
                 [0, 1, 2, 3, 0]])
NAMES = ["a", "b", "c"]


def test_confusion_matrix_hand_example():
    cm = confusion_matrix(REF, PRED, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[3, 1, 0], [0, 2, 1], [1, 0, 1]])


def test_accuracy_report_hand_example():
    r = accuracy_report(REF, PRED, NAMES)
    assert set(r) == {"oa", "aa", "kappa", "per_class", "confusion", "n_pixels", "unclassified"}
    assert r["oa"] == pytest.approx(60.0)
    assert r["aa"] == pytest.approx(175 / 3)
    assert r["kappa"] == pytest.approx(100 * 0.29 / 0.69)
    assert r["n_pixels"] == 10
    assert r["unclassified"] == 1
    assert r["confusion"] == [[3, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert [c["id"] for c in r["per_class"]] == [1, 2, 3]
    assert [c["name"] for c in r["per_class"]] == NAMES
    assert [c["support"] for c in r["per_class"]] == [4, 3, 3]
    assert [c["accuracy"] for c in r["per_class"]] == pytest.approx([75.0, 200 / 3, 100 / 3])
    for key in ("oa", "aa", "kappa"):
        assert type(r[key]) is float


def test_perfect_prediction():
    ref = np.random.default_rng(1).integers(0, 5, (40, 30))
    pred = np.where(ref > 0, ref, 3)  # whatever sits on unlabelled pixels does not matter
    r = accuracy_report(ref, pred, list("abcd"))
    assert (r["oa"], r["aa"], r["kappa"]) == (100.0, 100.0, 100.0)
    assert r["unclassified"] == 0


def test_single_class_perfect_kappa_defined():
    ref = np.ones((4, 4), int)
    r = accuracy_report(ref, ref, ["only", "unused"])
    assert r["kappa"] == 100.0
    assert r["per_class"][1]["accuracy"] is None
    assert r["aa"] == 100.0  # classes without reference pixels are left out of AA


def test_unclassified_pixels_count_as_wrong():
    ref = np.array([1, 1, 2, 2])
    pred = np.array([1, 0, 0, 2])
    r = accuracy_report(ref, pred, ["x", "y"])
    assert r["unclassified"] == 2
    assert r["oa"] == 50.0
    assert [c["accuracy"] for c in r["per_class"]] == [50.0, 50.0]
    assert [c["support"] for c in r["per_class"]] == [2, 2]
    # Not a column: each row sums to support minus its unclassified pixels.
    assert r["confusion"] == [[1, 0], [0, 1]]
    everything_missing = accuracy_report(ref, np.zeros_like(ref), ["x", "y"])
    assert everything_missing["oa"] == 0.0 and everything_missing["unclassified"] == 4


def test_kappa_matches_textbook_formula_without_unclassified():
    rng = np.random.default_rng(7)
    ref = rng.integers(1, 6, 5000)
    pred = np.where(rng.random(5000) < 0.7, ref, rng.integers(1, 6, 5000))
    cm = confusion_matrix(ref, pred, 5).astype(float)
    n = cm.sum()
    p_o = np.trace(cm) / n
    p_e = (cm.sum(0) * cm.sum(1)).sum() / n ** 2
    r = accuracy_report(ref, pred, list("abcde"))
    assert r["kappa"] == pytest.approx(100 * (p_o - p_e) / (1 - p_e))


def test_chunked_counting_matches(monkeypatch):
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 4, (50, 37))
    pred = rng.integers(0, 4, (50, 37))
    whole = accuracy_report(ref, pred, list("abc"))
    monkeypatch.setattr(metrics, "_CHUNK", 97)
    assert accuracy_report(ref, pred, list("abc")) == whole


def test_float_label_rasters_accepted():
    r = accuracy_report(REF.astype(np.float32), PRED.astype(np.float64), NAMES)
    assert r["oa"] == pytest.approx(60.0)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(5, 3\)"):
        accuracy_report(REF, PRED.T, NAMES)


@pytest.mark.parametrize("ref_val,pred_val,bad", [(4, 1, "4"), (1, 7, "7"), (1, -1, "-1"),
                                                  (-2, 1, "-2")])
def test_out_of_range_ids_named(ref_val, pred_val, bad):
    ref = REF.copy()
    pred = PRED.copy()
    ref[0, 0] = ref_val
    pred[0, 0] = pred_val
    with pytest.raises(ValueError, match=rf"class id {bad}\b"):
        confusion_matrix(ref, pred, 3)


def test_fractional_ids_rejected():
    with pytest.raises(ValueError, match="2.5"):
        accuracy_report(REF, np.where(PRED == 2, 2.5, PRED), NAMES)


def test_no_labelled_pixels_is_an_error():
    with pytest.raises(ValueError, match="no labelled pixels"):
        accuracy_report(np.zeros((3, 3), int), np.ones((3, 3), int), NAMES)
