"""Shot files and photographs to a validated, resolved film: pure data for every layer above."""
