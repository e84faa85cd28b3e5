"""ffmpeg at the edge: finding the binary, running it safely, presets, probing."""
