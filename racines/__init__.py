"""racines: shot files and archive photographs to takes, timelines, EDLs and a rendered film."""

__version__ = "0.1.0"
