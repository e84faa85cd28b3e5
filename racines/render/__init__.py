"""Render the timeline to the film's deliverables with ffmpeg, streaming frames through pipes."""
