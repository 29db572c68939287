"""Beside Mesa's libLLVM (loaded into every GL application, QGIS included) torch must not pull in
triton, whose own LLVM segfaults against it: load a model file and encode prompts with MiniLM in a
process that has libLLVM-15 loaded globally, as the desktop has."""
import subprocess
import sys

import pytest
from worker_support import LLVM, PROMPTS, llvm_present


CODE = f"""
import ctypes, json, sys
ctypes.CDLL({LLVM!r}, mode=ctypes.RTLD_GLOBAL)
from mmlgnet_qgis.core.model_file import load_model
load_model(sys.argv[1])
after_load = sorted(m for m in ("torch._dynamo", "triton") if sys.modules.get(m) is not None)
from mmlgnet_qgis.core.prompts import class_embeddings, load_prompt_set
from mmlgnet_qgis.core.text_encoders import MiniLMEncoder
emb = class_embeddings(load_prompt_set(sys.argv[2]), MiniLMEncoder())
print(json.dumps({{"after_load": after_load, "triton": sys.modules.get("triton") is not None,
                  "shape": list(emb.shape)}}))
"""


@pytest.mark.skipif(not llvm_present(), reason=f"{LLVM} is not installed (Mesa's LLVM)")
def test_model_load_and_minilm_beside_mesas_llvm(scene):
    out = subprocess.run([sys.executable, "-c", CODE, scene["model"], PROMPTS], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    import json
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["after_load"] == [], "load_model pulled in torch._dynamo / triton"
    assert result["triton"] is False and result["shape"] == [3, 384]
