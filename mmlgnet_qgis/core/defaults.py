"""Default training and architecture settings, importable without torch.

ModelConfig / TrainConfig take their defaults from here, and so do the command line and the
Processing algorithms (which must load in a QGIS without torch): one place, no drift.
"""
LOSS_MODES = ("pixel2text", "text2pixel", "symmetric")
DEFAULT_LOSS = "symmetric"
PATCH_SIZE = 15
HSI_WIDTH = 64      # after the 1x1 spectral reduction and the 3x3 convs
LIDAR_WIDTH = 32
FUSION_WIDTH = 128
EPOCHS = 60
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
DISTILL_WEIGHT = 0.5   # self-distillation of the per-modality heads
CE_WEIGHT = 0.0        # auxiliary cross-entropy head
# Knowledge distillation from a teacher model (train --teacher; core/distill.py)
TEACHER_WEIGHT = 1.0       # KL(teacher || student) on the teacher's soft cosine logits
TEACHER_TEMPERATURE = 2.0
TEACHER_PIXELS = 128       # scene pixels (labelled or not) drawn per training step

# Named architectures. "fast" (widths 16/8/32) on 2 CPU cores: 0.315 Mpix/s end to end vs 0.066
# for "standard", training 50 s vs 172 s on Trento, OA 96.62 vs 97.44 (Trento) and 95.01 vs
# 95.31 (MUUFL), semi-synthetic HSI (benchmarks/results/accuracy_fast.md, inference_fast.md).
# "distilled" (the default): standard networks are trained first as the teachers (TEACHER_HEADS),
# then the fast network learns their soft class scores on every pixel of the scene (core/distill.py);
# the model file is the student. Measured (5 seeds): Trento 97.46 vs the prompt teacher's 97.14
# (benchmarks/results/distill.md); classify 0.755 vs 0.175 Mpix/s float32 end to end on 2 idle cores
# (benchmarks/results/inference_cpu_default.md).
FAST_WIDTHS = {"hsi_width": 16, "lidar_width": 8, "fusion_width": 32}
PRESETS = {
    "standard": {"hsi_width": HSI_WIDTH, "lidar_width": LIDAR_WIDTH, "fusion_width": FUSION_WIDTH},
    "fast": dict(FAST_WIDTHS),
    "distilled": dict(FAST_WIDTHS),   # the student's widths
}
DEFAULT_PRESET = "distilled"
TEACHER_PRESET = "standard"   # the teacher "distilled" trains first
# ... once per head here, one after the other; the student learns the mean of their class
# distributions. "text": the prompt head; "linear": a plain classifier without text, which cannot
# classify by prompt, so it only teaches and is never written. Chosen on validation only
# (benchmarks/results/defaults_validation.md).
TEACHER_HEADS = ("text", "linear")

MODALITIES = ("both", "hsi", "lidar")
DEVICES = ("auto", "cpu", "cuda")
# Inference engines: torch, or ONNX Runtime on the CPU (optional package; benchmarks/results/inference_cpu.md)
RUNTIMES = ("torch", "onnx", "onnx-int8")
SCENE_NAMES = ("trento", "muufl")
# Class ids are written as UInt16 with 0 = nodata.
MAX_CLASSES = 65_535
TEXT_ENCODER = "minilm"
# Headless runs stream rasters larger than RAM: GDAL's default block cache (5 % of RAM) would
# dominate the footprint, and one tile row of blocks is all the reuse a tile walk needs.
GDAL_CACHEMAX_MB = 256
SEMI_SYNTHETIC_NOTE = "semi-synthetic HSI over real labels and LiDAR"
