"""Editorial: the film and its takes as an OpenTimelineIO timeline, and its exports."""
