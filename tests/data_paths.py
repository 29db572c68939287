"""Where the benchmark data is: a helper module (tests import it; every conftest.py is "conftest")."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """$MMLGNET_DATA, else ../shared/data beside the checkout (where CI and sessions keep it)."""
    return Path(os.environ.get("MMLGNET_DATA") or ROOT.parent / "shared" / "data")
