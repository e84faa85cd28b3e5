"""Subtitles: transcripts beside each voice, cues built to the timed-text rules and snapped to
the cuts, machine drafts (Whisper, translation) for a person to review, and every delivery format."""
