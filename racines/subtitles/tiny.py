"""Tiny random-weight speech and translation models, built offline, for tests and benchmarks.

They have the real classes, tokenizers, configurations and files of the full checkpoints
(Whisper; Marian as in Helsinki-NLP/opus-mt-*; M2M100; NLLB-200's tokenizer on M2M100's
architecture) at a few thousand parameters, saved in safetensors the way a Hugging Face cache
holds a download, so racines' own resolution and loading run on them. Their text is random
(the weights are); shapes, language prompts and timestamps are the real plumbing. Nothing
here is used to make a film.

    from racines.subtitles import tiny
    tiny.into_hf_cache(tiny.whisper(), cache_dir, "racines-tiny/whisper")   # then: repo: racines-tiny/whisper
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import torch

from racines.generators.diffusion.tiny import into_hf_cache, save  # noqa: F401  (the same cache layout)

#: sentences the tiny translation tokenizers are trained on (their pieces cover these scripts)
SENTENCES = [
    "Ma grand-mère est arrivée à Marseille en 1962.",
    "My grandmother arrived in Marseille in 1962.",
    "وصلت جدتي إلى مرسيليا سنة 1962",
    "Büyükannem 1962'de Marsilya'ya geldi.",
    "Bà tôi đến Marseille năm 1962.",
]
WHISPER_TASKS = ["translate", "transcribe"]
#: whisper-tiny's cross-attention heads that align words with the audio (its generation_config)
TINY_ALIGNMENT_HEADS = [[2, 2], [3, 0], [3, 2], [3, 3], [3, 4], [3, 5]]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-printable-character map, which Whisper's byte-level BPE vocabulary uses."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def whisper_tokenizer(text_tokens: int = 256):
    """Whisper's token layout: ``text_tokens`` text tokens (the 256 bytes, then filler words up to
    the real 50256), <|endoftext|>, <|startoftranscript|>, the 100 languages in Whisper's own order,
    the tasks, <|notimestamps|>, then the 1501 timestamps."""
    from transformers import WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    vocab = {char: index for index, char in enumerate(_bytes_to_unicode().values())}
    for index in range(len(vocab), text_tokens):   # never produced by encoding (no merges), decodable
        vocab[f"Ġw{index}"] = index
    specials = (["<|startoftranscript|>"] + [f"<|{code}|>" for code in LANGUAGES]
                + [f"<|{task}|>" for task in WHISPER_TASKS]
                + ["<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"])
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])       # adds <|endoftext|> after the text tokens
    # add_special_tokens, not add_tokens(special_tokens=True): only the former lists them in
    # all_special_ids, from which the timestamp decoding counts
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    return tokenizer


def whisper(d_model: int = 32, layers: int = 1, heads: int = 2, mel_bins: int = 128, text_tokens: int = 256,
            alignment_heads: list[list[int]] | None = None, max_length: int = 40):
    """A random Whisper (model, feature extractor, tokenizer). The default has 128 mel bins, as large-v3 and its
    turbo do: a loader that took the feature extractor's defaults (80) would fail on it. Random weights
    never say <|endoftext|>, so ``max_length`` (generation_config) is where each 30 s window stops."""
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer = whisper_tokenizer(text_tokens)
    ids = dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids))
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=mel_bins, d_model=d_model,
        encoder_layers=layers, encoder_attention_heads=heads, encoder_ffn_dim=4 * d_model,
        decoder_layers=layers, decoder_attention_heads=heads, decoder_ffn_dim=4 * d_model,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
        # the defaults name ids of the real 51865-token vocabulary
        begin_suppress_tokens=[eot], suppress_tokens=[])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={task: ids[f"<|{task}|>"] for task in WHISPER_TASKS},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        max_initial_timestamp_index=50, begin_suppress_tokens=[eot], suppress_tokens=[],
        alignment_heads=alignment_heads or [[0, h] for h in range(heads)], max_length=max_length)
    # saved apart, as the checkpoints hold them: preprocessor_config.json and the tokenizer's files
    return model, WhisperFeatureExtractor(feature_size=mel_bins), tokenizer


def whisper_tiny_architecture(max_length: int = 100):
    """openai/whisper-tiny's shape (d_model 384, 4 + 4 layers of 6 heads, 80 mel bins, vocabulary
    51865) at random weights: what timing measures, since time does not depend on the weights;
    ``max_length`` stands for where a real one would stop (about 100 tokens for 20-30 s of speech)."""
    return whisper(d_model=384, layers=4, heads=6, mel_bins=80, text_tokens=50256, alignment_heads=TINY_ALIGNMENT_HEADS,
                   max_length=max_length)


def _sentencepiece(vocab_size: int = 80) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES * 20), model_writer=model, vocab_size=vocab_size,
                                   hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
                                   pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2)
    return model.getvalue()


def _pieces(proto: bytes) -> list[str]:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=proto)
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size()) if processor.id_to_piece(i) != "<unk>"]


def _seq2seq_config(config_class, vocab_size: int, **ids):
    return config_class(vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                        **ids)


def marian():
    """A random Marian pair model (model, tokenizer), as Helsinki-NLP/opus-mt-<src>-<tgt>."""
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    proto = _sentencepiece()
    vocab = {"</s>": 0, "<unk>": 1, **{p: i + 2 for i, p in enumerate(_pieces(proto))}}
    vocab["<pad>"] = len(vocab)                               # Marian: pad is the last id
    with tempfile.TemporaryDirectory() as tmp:                # MarianTokenizer reads files by str path
        for name in ("source.spm", "target.spm"):              # one shared model, as most opus-mt pairs
            Path(tmp, name).write_bytes(proto)
        Path(tmp, "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        tokenizer = MarianTokenizer(str(Path(tmp, "source.spm")), str(Path(tmp, "target.spm")), str(Path(tmp, "vocab.json")))
        tokenizer.save_pretrained(tmp)                        # loads the pieces now, before the folder goes
        tokenizer = MarianTokenizer.from_pretrained(tmp)
    config = _seq2seq_config(MarianConfig, len(vocab), pad_token_id=vocab["<pad>"], eos_token_id=0,
                             decoder_start_token_id=vocab["<pad>"], forced_eos_token_id=0)
    torch.manual_seed(0)
    return MarianMTModel(config).eval(), tokenizer


def m2m100():
    """A random M2M100 (model, tokenizer), as facebook/m2m100_418M: ``__fr__`` language tokens."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    proto = _sentencepiece()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{p: i + 4 for i, p in enumerate(_pieces(proto))}}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sentencepiece.bpe.model").write_bytes(proto)
        Path(tmp, "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        tokenizer = M2M100Tokenizer(str(Path(tmp, "vocab.json")), str(Path(tmp, "sentencepiece.bpe.model")))
        tokenizer.save_pretrained(tmp)
        tokenizer = M2M100Tokenizer.from_pretrained(tmp)
    # the language tokens (__fr__...) and the made-up words come after the vocabulary, uncounted by len()
    size = max(tokenizer.id_to_lang_token) + 1 + tokenizer.num_madeup_words
    config = _seq2seq_config(M2M100Config, size, scale_embedding=True, pad_token_id=1, bos_token_id=0,
                             eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    return M2M100ForConditionalGeneration(config).eval(), tokenizer


def nllb():
    """A random NLLB-style model (model, tokenizer): NllbTokenizer with NLLB's 202 language codes
    (fra_Latn, arb_Arab...) over a character vocabulary, on M2M100's architecture, as NLLB-200."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    chars = sorted({c for s in SENTENCES for c in s.replace(" ", "▁")} | {"▁"})
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{c: i + 4 for i, c in enumerate(chars)}}
    tokenizer = NllbTokenizer(vocab=vocab, merges=[], src_lang="fra_Latn", tgt_lang="arb_Arab")
    config = _seq2seq_config(M2M100Config, len(tokenizer), scale_embedding=True, pad_token_id=1, bos_token_id=0,
                             eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    return M2M100ForConditionalGeneration(config).eval(), tokenizer


BUILDERS = {"whisper": whisper, "marian": marian, "m2m100": m2m100, "nllb": nllb}


