"""The nightly batch: plan the stale shots, run them on an executor with retries, render the
film, and write the dailies (``racines batch``)."""
