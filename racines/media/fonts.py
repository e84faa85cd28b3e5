"""The fonts racines draws text with: the DejaVu family that matplotlib ships, so that cards,
contact sheets and burn-ins look the same on every machine with no system fonts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# found, not imported: importing matplotlib takes a fifth of a second that every command would pay
_TTF = Path(importlib.util.find_spec("matplotlib").origin).with_name("mpl-data") / "fonts" / "ttf"
SANS = _TTF / "DejaVuSans.ttf"
SANS_BOLD = _TTF / "DejaVuSans-Bold.ttf"
MONO = _TTF / "DejaVuSansMono.ttf"
