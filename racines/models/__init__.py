"""Model weights: names to local folders or Hugging Face repos, resolved offline, safetensors only."""
