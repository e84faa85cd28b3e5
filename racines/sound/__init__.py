"""The film's sound: the timeline's voices and music mixed once, normalised and cached."""
