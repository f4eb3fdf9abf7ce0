"""Deterministic exports of any size derived from real Tate rows: ``museum_sync.samples.generate``'s CLI.

python benchmarks/generate.py --records 500000 --out /tmp/tate500k.csv --bad-share 0.01 --drift-chunks 3,7
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from museum_sync.samples.generate import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
