"""Small random models and manifests shared by the core and GUI tests."""
import torch

from mmlgnet_qgis.core.model import MMLGNet, ModelConfig


def small_model(k=4, d=16, p=9, seed=0, modalities="both"):
    torch.manual_seed(seed)
    cfg = ModelConfig(hsi_bands=7, lidar_bands=2, embed_dim=d, patch_size=p, hsi_width=8,
                      lidar_width=4, fusion_width=12, modalities=modalities)
    model = MMLGNet(cfg, torch.randn(k, d))
    # give BatchNorm non-trivial running statistics, as after training
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 7, p, p) * 2 + 1, torch.randn(8, 2, p, p))
    return model.eval()


def manifest():
    return {"hsi_bands": 7, "lidar_bands": 2, "classes": [{"id": i, "name": f"c{i}", "color": "#123456"}
                                                          for i in range(1, 5)],
            "normalisation": {"hsi_mean": [0.0] * 7, "hsi_std": [1.0] * 7,
                              "lidar_mean": [0.0] * 2, "lidar_std": [1.0] * 2},
            "text_encoder": {"kind": "hash", "model": "hash", "dim": 16}}
