"""The dock's widget-free helpers: cosine matrix, near-duplicate pairs, heat colours, prompt cells."""
import numpy as np

from mmlgnet_qgis.gui.prompt_table import cell_to_prompts, prompts_to_cell
from mmlgnet_qgis.gui.resources import ready_prompt_sets
from mmlgnet_qgis.gui.similarity import (cosine_matrix, heat_rgb, is_dark, most_similar_pair,
                                         near_duplicate_pairs)


def test_cosine_matrix_has_exact_unit_diagonal_and_finds_near_duplicates():
    emb = np.array([[1, 0, 0], [0.99, 0.05, 0], [0, 1, 0], [0, 0, 3]], np.float32)
    sim = cosine_matrix(emb)
    assert sim.shape == (4, 4) and np.all(np.diag(sim) == 1.0) and np.allclose(sim, sim.T)
    pairs = near_duplicate_pairs(sim)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)] and pairs[0][2] > 0.95
    assert most_similar_pair(sim)[:2] == (0, 1)
    assert most_similar_pair(cosine_matrix(emb[:1])) is None


def test_heat_colours_run_light_to_dark():
    assert heat_rgb(-0.5) == heat_rgb(0.0) == (255, 255, 204)
    assert heat_rgb(1.0) == (128, 0, 38)
    assert not is_dark(heat_rgb(0.2)) and is_dark(heat_rgb(1.0))


def test_prompt_cells_hold_one_prompt_per_line():
    prompts = ["roofs | tiles", "flat concrete"]  # "|" or ";" inside a prompt stay intact
    assert cell_to_prompts(prompts_to_cell(prompts)) == prompts
    assert cell_to_prompts(" a \r\n\nb\n\n") == ["a", "", "b"]  # a blank line is an empty prompt
    assert cell_to_prompts(prompts_to_cell(["", "x"])) == ["", "x"]
    assert cell_to_prompts("  \n") == []


def test_ready_sets_are_the_shipped_files():
    sets = ready_prompt_sets()
    assert set(sets) >= {"Trento", "MUUFL"} and sets["Trento"].name == "trento.json"
