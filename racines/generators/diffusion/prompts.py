"""Optional prompt enhancement by a local language model (transformers), off by default.

A shot's ``final: {enhance_prompt: NAME}`` names a ``library: transformers`` model from
racines models. Decoding is greedy, so the same prompt and model give the same rewrite; the
take's manifest keeps the prompt as written and as enhanced.
"""

from __future__ import annotations

from racines.models.resolve import ResolvedModel

INSTRUCTION = ("Rewrite the shot description below as one detailed prompt for a video model: the subject, its "
               "motion, the light and the camera. Keep every element of the description and add nothing that "
               "contradicts it. Answer with the prompt only.")
MAX_NEW_TOKENS = 120


def enhance(prompt: str, model: ResolvedModel, device: str, max_new_tokens: int = MAX_NEW_TOKENS) -> str:
    """The prompt rewritten by ``model`` (a checked, local transformers folder); the original if empty."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = str(model.folder)  # safety.check_transformers_folder refused pickles and auto_map code
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=dtype)
    lm.to(device).eval()
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": prompt}]
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)
        ids = encoded["input_ids"]
    else:
        ids = tokenizer(f"{INSTRUCTION}\n\n{prompt}\n\nPrompt:", return_tensors="pt")["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = lm.generate(ids.to(device), attention_mask=torch.ones_like(ids).to(device), do_sample=False,
                          max_new_tokens=max_new_tokens, pad_token_id=pad)
    text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    del lm
    return " ".join(text.split()) or prompt
