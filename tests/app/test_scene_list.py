"""The scenes of a distributed run and how the command line picks the request (no Dask needed)."""
from __future__ import annotations

import pytest

from mmlgnet_qgis.app.classify_distributed import blocks
from mmlgnet_qgis.app.dask_cluster import local_workers
from mmlgnet_qgis.app.distributed_requests import DistributedClassifyRequest
from mmlgnet_qgis.app.requests import ClassifyRequest
from mmlgnet_qgis.app.scene_list import scenes_of
from mmlgnet_qgis.core.errors import InputError


def req(**kw):
    return DistributedClassifyRequest(model="m.safetensors", **kw)


def test_pairs_csv_and_output_names(tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text("hsi,lidar,out\nsub/a.tif,sub/a_l.tif,\n/data/b.tif,/data/b_l.tif,/maps/b.tif\n")
    s = scenes_of(req(scenes=str(csv), hsi=["c.tif"], lidar=["c_l.tif"], out_dir=str(tmp_path / "maps"),
                      with_confidence=True))
    assert [x.hsi for x in s] == [str(tmp_path / "sub/a.tif"), "/data/b.tif", "c.tif"]
    assert s[0].out == str(tmp_path / "maps" / "a_classes.tif")
    assert s[0].confidence == str(tmp_path / "maps" / "a_confidence.tif")
    assert s[1].out == "/maps/b.tif" and s[1].confidence == "/maps/b_confidence.tif"


@pytest.mark.parametrize("kw, message", [
    ({}, "no scenes"),
    ({"hsi": ["a.tif", "b.tif"], "lidar": ["a_l.tif"]}, "2 HSI but 1 LiDAR"),
    ({"hsi": ["a.tif", "b.tif"], "lidar": ["x", "y"], "out": "o.tif"}, "give --out-dir"),
    ({"hsi": ["a.tif"], "lidar": ["x"]}, "no output for a.tif"),
    ({"hsi": ["d1/a.tif", "d2/a.tif"], "lidar": ["x", "y"], "out_dir": "maps"}, "share a name"),
])
def test_bad_scene_lists_are_named(kw, message):
    with pytest.raises(InputError, match=message):
        scenes_of(req(**kw))


def test_blocks_are_whole_tiles_and_cover_the_scene():
    b = blocks(101, 75, 16, 2)
    assert b[0] == (0, 0, 32, 32) and b[-1] == (96, 64, 5, 11) and len(b) == 12
    assert sum(w * h for _, _, w, h in b) == 101 * 75
    assert local_workers("local:3") == 3 and local_workers("tcp://h:8786") is None and local_workers("local") >= 1
    with pytest.raises(InputError, match="local:N"):
        local_workers("local:zero")


def test_command_line_picks_the_request():
    from mmlgnet_qgis.cli import build_parser, request_from_args
    base = ["classify", "--model", "m", "--hsi", "a.tif", "--lidar", "a_l.tif"]
    one = request_from_args(build_parser().parse_args([*base, "--out", "o.tif"]))
    assert type(one) is ClassifyRequest and one.hsi == "a.tif"
    many = request_from_args(build_parser().parse_args([*base, "--out", "o.tif", "--cluster", "local:2"]))
    assert type(many) is DistributedClassifyRequest and many.hsi == ["a.tif"] and many.threads == 1
    with pytest.raises(InputError, match="--prompts: not available on a cluster"):
        request_from_args(build_parser().parse_args([*base, "--out-dir", "d", "--prompts", "p.json"]))
