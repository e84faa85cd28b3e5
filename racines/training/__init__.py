"""Training sets from consented photographs, and the consent that follows them into a LoRA."""
