"""MMLGNet network: per-modality CNN encoders, fusion, projection into the text space.

Every layer is a 'valid' convolution or a stride-1 pooling, so the same network maps
a (B, C, P, P) patch to one embedding and a (B, C, H+P-1, W+P-1) tile to an (H, W) map of
embeddings, giving every pixel exactly what its own patch would give (no per-pixel loop).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import defaults
from .defaults import MODALITIES
from .errors import InputError



@dataclass
class ModelConfig:
    """The network's shape, stored in the manifest (`to_dict`) and rebuilt from it.

    Args:
        hsi_bands: HSI input bands.
        lidar_bands: LiDAR input bands.
        embed_dim: text-embedding dimension the pixels are projected into.
        patch_size: P, the odd neighbourhood (>= 7) each pixel sees.
        hsi_width: HSI encoder channels.
        lidar_width: LiDAR encoder channels.
        fusion_width: fused channels.
        dropout: dropout rate.
        modalities: both, hsi or lidar (the branches built).
        hsi_reduce: k > 0: a 1x1 linear reduction of the HSI bands to k channels ahead of the HSI
            encoder (training initialises it with the principal components); 0: none.
    """

    hsi_bands: int
    lidar_bands: int
    embed_dim: int
    patch_size: int = defaults.PATCH_SIZE
    hsi_width: int = defaults.HSI_WIDTH
    lidar_width: int = defaults.LIDAR_WIDTH
    fusion_width: int = defaults.FUSION_WIDTH
    dropout: float = 0.1
    modalities: str = "both"
    hsi_reduce: int = 0

    def __post_init__(self) -> None:
        """Raises: InputError for an even or too small patch size or unknown modalities."""
        if self.patch_size < 7 or self.patch_size % 2 == 0:
            raise InputError(f"patch size must be odd and >= 7, got {self.patch_size}")
        if self.modalities not in MODALITIES:
            raise InputError(f"modalities must be one of {MODALITIES}, got {self.modalities!r}")

    def to_dict(self) -> dict:
        """Returns: the fields as a JSON-ready dict (ModelConfig(**d) rebuilds it).

        hsi_reduce is left out when 0, so such files stay readable by versions before it.
        """
        d = asdict(self)
        if not d["hsi_reduce"]:
            del d["hsi_reduce"]
        return d


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class ModalityEncoder(nn.Sequential):
    """1x1 conv (spectral mixing) then two 3x3 valid convs: shrinks the window by 4."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__(_conv(cin, width, 1), _conv(width, width, 3), _conv(width, width, 3))


class Projection(nn.Sequential):
    """Per-pixel MLP (as 1x1 convs) into the text-embedding dimension."""

    def __init__(self, cin: int, dim: int, dropout: float) -> None:
        super().__init__(nn.Conv2d(cin, cin, 1), nn.GELU(), nn.Dropout(dropout), nn.Conv2d(cin, dim, 1))


class MMLGNet(nn.Module):
    """The network: modality encoders, fusion, and a projection scored against class embeddings.

    Args:
        cfg: the network's shape.
        class_embeddings: (K, D) text embeddings of the K classes (normalised, kept as a buffer: not trained).
    """

    def __init__(self, cfg: ModelConfig, class_embeddings: torch.Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        p = cfg.patch_size
        self.use_hsi = cfg.modalities in ("both", "hsi")
        self.use_lidar = cfg.modalities in ("both", "lidar")
        fused_in = 0
        if self.use_hsi:
            if cfg.hsi_reduce:  # per-pixel linear map: tiled inference stays exact
                self.hsi_reduce = nn.Conv2d(cfg.hsi_bands, cfg.hsi_reduce, 1)
            self.hsi_encoder = ModalityEncoder(cfg.hsi_reduce or cfg.hsi_bands, cfg.hsi_width)
            self.hsi_head = Projection(cfg.hsi_width, cfg.embed_dim, cfg.dropout)
            fused_in += cfg.hsi_width
        if self.use_lidar:
            self.lidar_encoder = ModalityEncoder(cfg.lidar_bands, cfg.lidar_width)
            self.lidar_head = Projection(cfg.lidar_width, cfg.embed_dim, cfg.dropout)
            fused_in += cfg.lidar_width
        # Fusion: 1x1 mixing of the concatenated modalities, then joint spatial context.
        self.fusion = nn.Sequential(_conv(fused_in, cfg.fusion_width, 1),
                                    _conv(cfg.fusion_width, cfg.fusion_width, 3))
        self.branch_pool = p - 4   # encoders shrank the window by 4
        self.fused_pool = p - 6    # fusion's 3x3 shrank it by 2 more
        # The head sees the pooled context AND the centre pixel's own fused feature: mean
        # pooling alone dilutes thin structures (roads) in a wide window.
        self.projection = Projection(2 * cfg.fusion_width, cfg.embed_dim, cfg.dropout)
        # Optional cross-entropy head (training aid); prediction always uses the prompts.
        self.classifier = nn.Conv2d(2 * cfg.fusion_width, class_embeddings.shape[0], 1)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("class_embeddings", F.normalize(class_embeddings.float(), dim=1))

    @torch.no_grad()
    def init_hsi_reduce(self, hsi: torch.Tensor, max_pixels: int = 100_000, seed: int = 0) -> None:
        """Set the HSI reduction to the leading principal components of the pixels, whitened.

        Args:
            hsi: (Bh, H, W) normalised HSI of the training scene.
            max_pixels: at most this many pixels (drawn at random) estimate the covariance.
            seed: the draw's seed.
        """
        x = hsi.reshape(hsi.shape[0], -1).T.double()
        if x.shape[0] > max_pixels:
            x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:max_pixels]]
        mean = x.mean(0)
        vals, vecs = torch.linalg.eigh(torch.cov((x - mean).T))
        k = self.cfg.hsi_reduce
        vals, vecs = vals.flip(0)[:k].clamp_min(1e-6), vecs.flip(1)[:, :k]   # leading k
        w = (vecs / vals.sqrt()).T                                            # (k, Bh), whitened
        conv = self.hsi_reduce
        conv.weight.copy_(w[:, :, None, None].to(conv.weight))
        conv.bias.copy_((-w @ mean).to(conv.bias))

    def set_class_embeddings(self, emb: torch.Tensor) -> None:
        """Re-target the model to other prompts (the auxiliary CE classifier is then unused)."""
        if emb.shape[1] != self.cfg.embed_dim:
            raise InputError(f"class embeddings have dimension {emb.shape[1]}, the model needs {self.cfg.embed_dim}")
        self.class_embeddings = F.normalize(emb.float().to(self.class_embeddings.device), dim=1)

    @staticmethod
    def _pool(x: torch.Tensor, k: int) -> torch.Tensor:
        return F.avg_pool2d(x, k, stride=1) if k > 1 else x

    def _context_and_centre(self, fused: torch.Tensor) -> torch.Tensor:
        """(B, C, h+k-1, w+k-1) -> (B, 2C, h, w): mean over each k x k window + its centre."""
        k = self.fused_pool
        c = k // 2
        h, w = fused.shape[2] - k + 1, fused.shape[3] - k + 1
        return torch.cat([self._pool(fused, k), fused[:, :, c:c + h, c:c + w]], dim=1)

    def _fuse(self, hsi: torch.Tensor, lidar: torch.Tensor):
        """Encoders + fusion -> ((B, 2C, H, W) context ‖ centre features, {modality: features})."""
        branches = {}
        if self.use_hsi:
            branches["hsi"] = self.hsi_encoder(self.hsi_reduce(hsi) if self.cfg.hsi_reduce else hsi)
        if self.use_lidar:
            branches["lidar"] = self.lidar_encoder(lidar)
        fused = self._context_and_centre(self.fusion(torch.cat(list(branches.values()), dim=1)))
        return fused, branches

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor, with_aux: bool = False) -> dict:
        """Map hsi (B, Bh, H+P-1, W+P-1) and lidar (B, Bl, same) to a dict of (B, ..., H, W) maps.

        'embedding': unit-norm fused embedding; 'logits': scaled cosine to each class prompt;
        with_aux adds per-modality logits (self-distillation) and 'ce_logits'.
        """
        fused, branches = self._fuse(hsi, lidar)
        out = {}
        if with_aux:  # before the projection: dropout draws random numbers in this order
            for key, feats in branches.items():
                head = getattr(self, f"{key}_head")
                out[f"{key}_logits"] = self._logits(head(self._pool(feats, self.branch_pool)))
            out["ce_logits"] = self.classifier(fused).float()
        emb = F.normalize(self.projection(fused).float(), dim=1)
        out.update(embedding=emb, logits=self._scale() * self._cosine(emb))
        return out

    def fused_hidden(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        """Fused, pooled features after the projection's first layer (its input to the last 1x1)."""
        fused, _ = self._fuse(hsi, lidar)
        for layer in list(self.projection)[:-1]:
            fused = layer(fused)
        return fused

    def cosine_from_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """Cosine of each pixel's embedding to each class, from the hidden features z.

        With e = W z + b: e.t = (T W) z + T b and |e|^2 = z'(W'W)z + 2(W'b).z + b.b, so the work
        per pixel scales with the hidden width, not the text dimension (384-512), which dominated
        whole-scene inference. Always float32 (call it outside autocast): the quadratic form needs
        the precision.
        """
        z = z.float()
        last = self.projection[-1]
        w = last.weight[:, :, 0, 0].float()            # (D, F)
        b = last.bias.float()                           # (D,)
        t = self.class_embeddings.float()               # (K, D)
        dots = torch.einsum("kf,bfhw->bkhw", t @ w, z) + (t @ b)[None, :, None, None]
        gz = torch.einsum("gf,bfhw->bghw", w.T @ w, z)
        sq = (z * gz).sum(1, keepdim=True) + 2 * torch.einsum("f,bfhw->bhw", w.T @ b, z)[:, None] + b @ b
        return dots / sq.clamp_min(1e-24).sqrt()

    def _scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100.0)).exp()

    def _cosine(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bdhw,kd->bkhw", emb, self.class_embeddings)

    def _logits(self, proj: torch.Tensor) -> torch.Tensor:
        return self._scale() * self._cosine(F.normalize(proj.float(), dim=1))
