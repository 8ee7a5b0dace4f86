"""Tiny random-init checkpoints for the transformers backends, written with save_pretrained.

Nothing here downloads: configs are built in code, tokenizers are byte-level BPEs built with the
`tokenizers` library (every byte is a token, no merges), and each folder is what the real hub
folders hold (config, safetensors weights, tokenizer files, preprocessor configs), only tiny.

Example:
    >>> root = build_clip_clap(tmp_path)                    # doctest: +SKIP
    >>> load_encoder(str(root)).dim                           # doctest: +SKIP
    32
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BYTE_VOCAB = 256
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
]


def byte_tokenizer(
    specials: list[str], bos: str | None = None, eos: str | None = None, **named: str
) -> tuple[Any, dict[str, int]]:
    """A PreTrainedTokenizerFast: `specials` (ids 0...) then the 256 byte tokens.
    With `bos`/`eos` every encoding is wrapped as `bos ... eos` (CLIP / RoBERTa style)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {s: i for i, s in enumerate(specials)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    if bos and eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])]
        )
    kwargs = {k: v for k, v in {"bos_token": bos, "eos_token": eos, **named}.items() if v}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs), vocab


def build_clip(out: Path, size: str = "tiny") -> Path:
    """A CLIPModel with tokenizer and PIL image processor. size "tiny": 16-d projection, 32x32 images;
    "base": the ViT-B/32 shapes (transformers' CLIPConfig defaults: 224 px, 512-d), random weights."""
    import torch
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # eos id 1, not 2: id 2 selects CLIP's legacy argmax pooling
    tok, vocab = byte_tokenizer(["<pad>", "<eos>", "<bos>"], bos="<bos>", eos="<eos>", pad_token="<pad>")
    ids = dict(pad_token_id=vocab["<pad>"], bos_token_id=vocab["<bos>"], eos_token_id=vocab["<eos>"])
    if size == "base":
        config, px = CLIPConfig(text_config=ids), 224
    else:
        text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, max_position_embeddings=77, **ids)  # fmt: skip
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=32, patch_size=8)  # fmt: skip
        config, px = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16), 32
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(out)
    tok.model_max_length = 77
    tok.save_pretrained(out)
    CLIPImageProcessorPil(size={"shortest_edge": px}, crop_size={"height": px, "width": px}).save_pretrained(
        out
    )
    return out


def build_clap(out: Path, size: str = "tiny") -> Path:
    """A ClapModel with tokenizer and feature extractor (64 mel bins, 48 kHz, 10 s). size "tiny": 16-d
    projection, 2-stage HTSAT; "base": the htsat-unfused shapes (ClapConfig defaults), random weights."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    tok, vocab = byte_tokenizer(["<pad>", "<s>", "</s>"], bos="<s>", eos="</s>", pad_token="<pad>")
    ids = dict(pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"])
    if size == "base":
        config = ClapConfig(text_config=ids)
    else:
        text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, max_position_embeddings=72, type_vocab_size=1, **ids)  # fmt: skip
        audio = dict(spec_size=256, num_mel_bins=64, window_size=8, patch_size=8, patch_stride=[8, 8],
                     depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16, hidden_size=32,
                     enable_fusion=False)  # fmt: skip
        config = ClapConfig(text_config=text, audio_config=audio, projection_dim=16)
    torch.manual_seed(1)
    ClapModel(config).eval().save_pretrained(out)
    tok.model_max_length = 64
    tok.save_pretrained(out)
    ClapFeatureExtractor(truncation="rand_trunc").save_pretrained(out)
    return out


def build_clip_clap(root: Path, size: str = "tiny") -> Path:
    """A model folder for `load_encoder(folder)`: omnisearch.json naming clip-clap and its two parts."""
    root = Path(root)
    build_clip(root / "clip", size)
    build_clap(root / "clap", size)
    meta = {"encoder": "clip-clap", "clip": "clip", "clap": "clap"}
    (root / "omnisearch.json").write_text(json.dumps(meta))
    return root


def thinker_config(vocab: dict[str, int], text: dict, vision: dict, audio: dict) -> Any:
    """A Qwen2_5OmniThinkerConfig from the three sub-configs, special token ids from `vocab`."""
    from transformers import Qwen2_5OmniThinkerConfig

    config = Qwen2_5OmniThinkerConfig(
        text_config=text,
        vision_config=vision,
        audio_config=audio,
        audio_token_index=vocab["<|AUDIO|>"],
        image_token_index=vocab["<|IMAGE|>"],
        video_token_index=vocab["<|VIDEO|>"],
        audio_start_token_id=vocab["<|audio_bos|>"],
        audio_end_token_id=vocab["<|audio_eos|>"],
    )
    config.vision_start_token_id = vocab["<|vision_bos|>"]
    config.vision_end_token_id = vocab["<|vision_eos|>"]
    return config


def build_thinker(out: Path, hidden: int = 32, layers: int = 2) -> Any:
    """A tiny Qwen2.5-Omni thinker (H = `hidden`) with its byte-level tokenizer; returns the model."""
    import torch
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    tok, vocab = byte_tokenizer(QWEN_SPECIALS, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    heads = 2
    half = hidden // heads // 2  # mrope_section must sum to head_dim / 2
    mrope = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    text = dict(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=1, max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        pad_token_id=vocab["<|endoftext|>"],
    )  # fmt: skip
    vision = dict(depth=1, hidden_size=hidden, intermediate_size=2 * hidden, num_heads=heads,
                  out_hidden_size=hidden, fullatt_block_indexes=[0])  # fmt: skip
    audio = dict(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=heads,
                 encoder_ffn_dim=2 * hidden, d_model=hidden, output_dim=hidden, n_window=100)  # fmt: skip
    config = thinker_config(vocab, text, vision, audio)
    torch.manual_seed(2)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return model


def head_state(hidden: int, layers: int, seed: int = 4, prefix: str = "classify_linear.") -> dict:
    """Random classify_linear tensors (Linear(L*H, H) -> GELU -> Linear(H, H)) under `prefix`."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        f"{prefix}0.weight": torch.randn(hidden, layers * hidden, generator=g) * 0.1,
        f"{prefix}0.bias": torch.randn(hidden, generator=g) * 0.1,
        f"{prefix}2.weight": torch.randn(hidden, hidden, generator=g) * 0.1,
        f"{prefix}2.bias": torch.randn(hidden, generator=g) * 0.1,
    }


TINY_BEATS = dict(
    embed_dim=16, dim=32, layers=2, heads=2, ffn=64, conv_pos=8, conv_pos_groups=4, predictor_class=5
)


def beats_state(out_dim: int, seed: int = 5, prefix: str = "") -> dict:
    """A random tiny BEATs branch (beats.*, beats_ln.*, beats_proj.* under `prefix`), WAVE's key layout."""
    import torch

    from omnisearch.models.beats import BeatsBranch, BeatsConfig

    torch.manual_seed(seed)
    branch = BeatsBranch(BeatsConfig(**TINY_BEATS), out_dim)
    for p in branch.parameters():  # away from identity-like inits, so every tensor matters
        p.data.add_(torch.randn(p.shape) * 0.05)
    return {f"{prefix}{k}": v.detach().clone().contiguous() for k, v in branch.state_dict().items()}


def build_omniretriever(
    root: Path, adapter: bool = False, head: str | None = None, beats: bool = False, beats_seed: int = 5
) -> Path:
    """A tiny OmniRetriever folder. `adapter=False`: a full thinker in `root`. `adapter=True`: the
    thinker in `root/base` and a PEFT LoRA adapter (q/k/v of the text layers, like the paper's) in
    `root`, with non-zero LoRA weights so that loading it changes the vectors.
    head: None -> no trained head, omnisearch.json says {"random_head": true}; "file" -> a random
    head in head.safetensors; "adapter" -> the head inside adapter_model.safetensors under PEFT's
    modules_to_save key layout (base_model.model.classify_linear.*).
    beats: WAVE's BEATs branch (random, `beats_seed`) added to the thinker's safetensors as beats.*,
    beats_ln.*, beats_proj.* (and, with an adapter, its own beats_ln / beats_proj under
    modules_to_save, seed + 1)."""
    import torch
    from safetensors.torch import load_file, save_file

    root = Path(root)
    base_dir = root / "base" if adapter else root
    model = build_thinker(base_dir)
    h, n = model.config.text_config.hidden_size, model.config.text_config.num_hidden_layers
    if beats:
        f = base_dir / "model.safetensors"
        save_file({**load_file(str(f)), **beats_state(h, beats_seed)}, str(f), metadata={"format": "pt"})
    if adapter:
        from peft import LoraConfig, get_peft_model

        target = r".*language_model\.layers\.\d+\.self_attn\.(q|k|v)_proj"
        peft_model = get_peft_model(
            model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=target)
        )
        torch.manual_seed(3)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.5)
        peft_model.save_pretrained(root)
        conf = json.loads((root / "adapter_config.json").read_text())
        conf["base_model_name_or_path"] = str(base_dir)
        (root / "adapter_config.json").write_text(json.dumps(conf))
    if adapter and beats:
        f = root / "adapter_model.safetensors"
        extra = {
            k: v for k, v in beats_state(h, beats_seed + 1, "base_model.model.").items() if ".beats." not in k
        }
        save_file({**load_file(str(f)), **extra}, str(f))
    if head == "file":
        save_file(head_state(h, n), str(root / "head.safetensors"))
    elif head == "adapter":
        f = root / "adapter_model.safetensors"
        save_file(
            {**load_file(str(f)), **head_state(h, n, prefix="base_model.model.classify_linear.")}, str(f)
        )
    (root / "omnisearch.json").write_text(
        json.dumps({"encoder": "omniretriever-7b", "random_head": head is None})
    )
    return root


def add_shard(folder: Path, tensors: dict, name: str) -> None:
    """Write `tensors` as one more safetensors file of a model folder, listed in its shard index when
    the folder has one (as a sharded hub checkpoint holds extra tensors)."""
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(Path(folder) / name), metadata={"format": "pt"})
    index = Path(folder) / "model.safetensors.index.json"
    if index.is_file():
        meta = json.loads(index.read_text())
        meta["weight_map"].update(dict.fromkeys(tensors, name))
        index.write_text(json.dumps(meta))


def build_omniretriever_7b_shape(root: Path, device: str = "cuda", beats: bool = False) -> Path:
    """An OmniRetriever folder with RANDOM weights in the real Qwen2.5-Omni-7B thinker shapes (28 x 3584
    text layers, 32-layer 1280-d vision and audio towers, 152064 vocab) and a random classify_linear
    head, built in bf16 on `device` (about 18 GB on disk). For speed and memory benchmarks on a GPU
    only: its vectors mean nothing. The tokenizer is the byte-level test tokenizer. beats: also WAVE's
    BEATs branch in its real shapes (BEATs iter3+ with its 527-class predictor, beats_ln, beats_proj
    768 -> 3584), random, in beats.safetensors (added to the shard index)."""
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    root = Path(root)
    tok, vocab = byte_tokenizer(QWEN_SPECIALS, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    text = dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        pad_token_id=vocab["<|endoftext|>"],
    )  # fmt: skip
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                  fullatt_block_indexes=[7, 15, 23, 31])  # fmt: skip
    audio = dict(num_mel_bins=128, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                 d_model=1280, output_dim=3584, n_window=100)  # fmt: skip
    config = thinker_config(vocab, text, vision, audio)
    torch.manual_seed(2)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(before)
    model.save_pretrained(root)
    tok.save_pretrained(root)
    del model
    h, n = 3584, 28
    save_file({k: v * 0.01 for k, v in head_state(h, n).items()}, str(root / "head.safetensors"))
    if beats:
        from omnisearch.models.beats import BeatsBranch, BeatsConfig

        torch.manual_seed(5)
        branch = BeatsBranch(BeatsConfig(predictor_class=527), h).to(torch.bfloat16)
        add_shard(root, branch.state_dict(), "beats.safetensors")
    (root / "omnisearch.json").write_text(json.dumps({"encoder": "omniretriever-7b"}))
    return root
