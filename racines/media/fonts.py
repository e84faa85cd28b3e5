"""The fonts racines draws text with: the DejaVu family that matplotlib ships, so that cards,
contact sheets and burn-ins look the same on every machine with no system fonts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

_TTF = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
SANS = _TTF / "DejaVuSans.ttf"
SANS_BOLD = _TTF / "DejaVuSans-Bold.ttf"
MONO = _TTF / "DejaVuSansMono.ttf"
