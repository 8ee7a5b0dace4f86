"""omniretriever-7b: the paper's encoder through transformers' Qwen2.5-Omni thinker (+ PEFT LoRA).

One forward pass per item over a prompt holding its modalities (layouts in omniretriever_prompt.py);
the hidden state of the last token (<|im_end|>, rows left-padded) is taken from every decoder layer
(`hidden_states[1:]`: layers 1..L-1 before the final norm, then the normed layer L), concatenated
(L*H, 28*3584 = 100352 for the 7B) and sent through the head `classify_linear` =
Linear(L*H, H) -> GELU -> Linear(H, H), then L2-normalised. Each item yields its single-modal vectors
(a forward pass per modality present) and, when two or more are present, the FUSED vector (one pass
over a prompt holding all of them: the paper's tuple embedding); with a single modality FUSED is that
modality's vector. Dual-modal queries are the fused pass over exactly those two modalities.

Training (omnisearch/train/lora.py) uses the same path with gradients: `embed_tensor` (no inference
mode, tensors stay on the device; `embed` wraps it for inference), and `merge_adapter=False` keeps a
loaded LoRA adapter unmerged and trainable in `self.peft` (the thinker then carries it in place).

Text-only convention: text goes through the same prompt path and head as everything else
(`caption<|im_end|>`, all layers, classify_linear), as in the mteb reference wrapper, so every vector
lives in one space. (The training code instead pooled the last layer's normed state without the head.)

Audio follows WAVE-7B: each wave goes through the Whisper tower (N tokens) AND the BEATs branch
(omnisearch/models/beats.py: N pooled BEATs tokens through beats_ln + beats_proj), interleaved
w0, b0, w1, b1, ... into 2N <|AUDIO|> slots; the M-RoPE positions for those rows are computed here
(omniretriever_prompt.rope_positions, WAVE's rule), not by transformers, which counts N. The BEATs
tensors are read from the base's safetensors (`beats.*`, `beats_ln.*`, `beats_proj.*`, any prefix) and
the adapter's modules_to_save override beats_ln / beats_proj. A checkpoint without BEATs weights
loads Whisper-only (N tokens per audio, transformers' plain layout) with a warning: its audio,
audio-visual and fused vectors are then NOT the released model's. BEATs runs in float16 on CUDA
(WAVE's autocast) and float32 on CPU. Also: a clip's duration is not an EncoderInput field, so
video-only items assume 1 fps for their temporal positions (the reference wrapper's fallback);
audio-visual items take the duration from the audio. Untested against real 7B weights here (no
network); tested on tiny random checkpoints with the same layout.

Weights (never downloaded unless OMNISEARCH_ALLOW_DOWNLOAD=1): a folder holding either a full thinker
(config.json + safetensors; a full Qwen2.5-Omni folder works too) or a PEFT adapter
(adapter_config.json; base from its base_model_name_or_path, or from omnisearch.json "base" /
OMNISEARCH_OMNIRETRIEVER_BASE). Named by OMNISEARCH_OMNIRETRIEVER or a model folder's omnisearch.json
{"encoder": "omniretriever-7b", "model": ...}. The head comes from head.safetensors, else the adapter's
modules_to_save, else the base's weights; without one it is an error unless omnisearch.json says
{"random_head": true} (test checkpoints).

Example:
    >>> enc = OmniRetriever(model="/models/OmniRetriever-7B")               # doctest: +SKIP
    >>> e = enc.encode([EncoderInput(text="a dog barks", frames=f, audio=a)])[0]   # doctest: +SKIP
    >>> sorted(m.value for m in e.vectors), enc.dim                          # doctest: +SKIP
    (['audio', 'fused', 'text', 'video'], 3584)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from omnisearch.models import omniretriever_prompt as P
from omnisearch.models.base import Encoder, EncoderOptions
from omnisearch.models.batching import encode_with_backoff, hub_kwargs, weights_location
from omnisearch.models.folder import ModelFolderInfo, read_model_info
from omnisearch.models.omniretriever_weights import HEAD_FILE, beats_state, head_tensors, weight_files
from omnisearch.models.omniretriever_weights import config_json as _config_json
from omnisearch.models.omniretriever_weights import thinker_config as _thinker_config
from omnisearch.types import Embedding, EncoderInput, Modality

if TYPE_CHECKING:
    from torch import Tensor, nn

    from omnisearch.models.beats import BeatsBranch

log = logging.getLogger(__name__)


class OmniRetriever(Encoder):
    """The paper's model; trains with LoRA (`capabilities.LoraTrainable`)."""

    name = "omniretriever-7b"
    version = "1"
    weights_from = "local folder (OMNISEARCH_OMNIRETRIEVER or omnisearch.json); no download"

    def __init__(
        self,
        options: EncoderOptions | None = None,
        path: str | None = None,
        model: str | None = None,
        frames_per_clip: int = P.FRAMES,
        merge_adapter: bool = True,
    ) -> None:
        super().__init__(options)
        self.merge_adapter = merge_adapter  # False: keep a LoRA adapter unmerged and trainable (self.peft)
        self.peft: nn.Module | None = None
        own = read_model_info(path)
        if model is None and path is not None and (own is None or own.model is None):
            model = path  # the model folder is the checkpoint itself
        self.location = model or weights_location(
            path, "model", "OMNISEARCH_OMNIRETRIEVER", self.name, "YunzeLiu/OmniRetriever-7B"
        )
        flags = read_model_info(self.location)  # flags of the checkpoint folder too
        self.meta = flags.merged(own) if flags and own else (own or flags or ModelFolderInfo(self.name))
        self.frames_per_clip = frames_per_clip
        self.adapter = (Path(self.location) / "adapter_config.json").is_file()
        self.base = self._base_location() if self.adapter else self.location
        try:
            text_cfg = _thinker_config(_config_json(self.base))["text_config"]
        except OSError as exc:
            raise ValueError(
                f"omniretriever-7b: cannot read {self.base}/config.json locally ({exc})"
            ) from exc
        self.dim = int(text_cfg["hidden_size"])
        self.layers = int(text_cfg["num_hidden_layers"])
        self.weights_from = self.location + (f" (LoRA on {self.base})" if self.adapter else "")
        self._loaded = False

    def lora_location(self) -> str:
        """The checkpoint (or adapter) folder LoRA training starts from."""
        return self.location

    def _base_location(self) -> str:
        base = self.meta.base or os.environ.get("OMNISEARCH_OMNIRETRIEVER_BASE", "")
        if not base:
            conf = json.loads((Path(self.location) / "adapter_config.json").read_text())
            base = conf.get("base_model_name_or_path") or ""
            if base and not Path(base).is_absolute() and (Path(self.location) / base).is_dir():
                base = str(Path(self.location) / base)
        if not base:
            raise ValueError(
                "the adapter names no base model: set OMNISEARCH_OMNIRETRIEVER_BASE=/path/to/WAVE-7B"
            )
        return base

    # ---- loading ---------------------------------------------------------------------------------
    def load(self) -> OmniRetriever:
        """Load tokenizer, feature extractor, thinker (+ LoRA, merged) and head; idempotent."""
        if self._loaded:
            return self
        import torch
        from transformers import AutoTokenizer, WhisperFeatureExtractor

        from omnisearch.models.device import resolve_device, resolve_dtype

        self.device = resolve_device(self.options.device)
        self.dtype = resolve_dtype(self.options.dtype, self.device)
        kw = hub_kwargs()
        tok_src = self.location if (Path(self.location) / "tokenizer_config.json").is_file() else self.base
        self.tokenizer = AutoTokenizer.from_pretrained(tok_src, **kw)
        self.ids = P.SpecialIds.from_tokenizer(self.tokenizer)
        self.extractor = WhisperFeatureExtractor(
            feature_size=128, sampling_rate=P.RATE, hop_length=P.HOP, chunk_length=int(P.MAX_AUDIO_S) + 1
        )
        thinker = self._load_thinker()
        if self.adapter:
            thinker = self._apply_adapter(thinker)
        self.thinker = thinker.to(self.device).eval()
        if not hasattr(self.thinker.model, "audio_tower"):  # older layouts: thinker.model is the text model
            raise RuntimeError(
                "this transformers' Qwen2.5-Omni thinker keeps its audio / vision towers outside "
                "thinker.model, which would drop the media silently: upgrade transformers (5.24 works)"
            )
        self.head = self._load_head().to(self.device, self.dtype).eval()
        self.beats = self._load_beats()
        self.default_ids = self.tokenizer(P.DEFAULT_PROMPT, add_special_tokens=False)["input_ids"]
        self._torch = torch
        self._loaded = True
        return self

    def _load_thinker(self) -> nn.Module:
        from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

        config = Qwen2_5OmniThinkerConfig.from_dict(_thinker_config(_config_json(self.base)))
        if getattr(config, "vision_start_token_id", None) is None:
            config.vision_start_token_id = self.ids.vision_bos
        on_gpu = {"device_map": self.device} if self.device.startswith("cuda") else {}
        return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
            self.base, config=config, dtype=self.dtype, **on_gpu, **hub_kwargs()
        )

    def _apply_adapter(self, thinker: nn.Module) -> nn.Module:
        """PeftModel.from_pretrained, a check that the LoRA weights really landed, then merge (or, with
        `merge_adapter=False`, keep the trainable PeftModel in `self.peft` and its LoRA-injected thinker)."""
        from omnisearch.extras import require

        require("train", f"the LoRA adapter {self.location}")
        from peft import PeftModel

        trainable = {} if self.merge_adapter else {"is_trainable": True}
        peft_model = PeftModel.from_pretrained(thinker, self.location, **trainable, **hub_kwargs())
        self._check_lora(peft_model)
        if not self.merge_adapter:
            self.peft = peft_model
            return peft_model.get_base_model()
        return peft_model.merge_and_unload()

    def _check_lora(self, peft_model: nn.Module) -> None:
        from safetensors import safe_open

        f = Path(self.location) / "adapter_model.safetensors"
        if not f.is_file():
            return
        with safe_open(str(f), framework="pt") as sf:  # reads only the lora_B tensors
            want = sum(1 for k in sf.keys() if "lora_B" in k and bool(sf.get_tensor(k).abs().sum() > 0))
        got = sum(1 for n, p in peft_model.named_parameters() if "lora_B" in n and bool(p.abs().sum() > 0))
        if got < want:
            raise RuntimeError(
                f"the LoRA adapter in {self.location} did not load ({got} of {want} non-zero lora_B tensors "
                "landed): its module names do not match this transformers' Qwen2.5-Omni thinker layout"
            )

    def _load_head(self) -> nn.Sequential:
        import torch

        h, n = self.dim, self.layers
        head = torch.nn.Sequential(torch.nn.Linear(n * h, h), torch.nn.GELU(), torch.nn.Linear(h, h))
        files = [Path(self.location) / HEAD_FILE, Path(self.location) / "adapter_model.safetensors"]
        if Path(self.base).is_dir():
            files += weight_files(self.base)
        found = head_tensors(files)
        if found is None:
            if not self.meta.random_head:
                raise ValueError(
                    f"no classify_linear head in {self.location} ({HEAD_FILE}, adapter modules_to_save) "
                    f"or in the base {self.base}: the embedding head is required"
                )
            log.warning("omniretriever: random classify_linear head (test checkpoint)")
            gen = torch.Generator().manual_seed(0)
            for p in head.parameters():
                p.data = torch.randn(p.shape, generator=gen) * 0.02
            return head
        linears = sorted(
            {k.split(".")[0] for k, v in found.items() if k.endswith("weight") and v.dim() == 2}, key=int
        )
        if len(linears) != 2:
            raise ValueError(f"classify_linear has {len(linears)} linear layers, expected 2")
        for mine, theirs in zip((0, 2), linears, strict=True):
            head[mine].weight.data = found[f"{theirs}.weight"].float()
            head[mine].bias.data = found[f"{theirs}.bias"].float()
        if tuple(head[0].weight.shape) != (h, n * h):
            raise ValueError(f"classify_linear.0 is {tuple(head[0].weight.shape)}, expected {(h, n * h)}")
        return head

    def _load_beats(self) -> BeatsBranch | None:
        """WAVE's BEATs branch from the base's weights (+ the adapter's beats_ln / beats_proj), or None
        (with a warning) when the checkpoint has no BEATs encoder."""
        from omnisearch.models.beats import load_branch

        audio_cfg = _thinker_config(_config_json(self.base)).get("audio_config", {})
        if audio_cfg.get("beats_only"):
            raise ValueError("a beats_only WAVE checkpoint (no Whisper tokens) is not supported")
        files = weight_files(self.base) if Path(self.base).is_dir() else []
        state = beats_state([*files, Path(self.location) / "adapter_model.safetensors"])
        branch = load_branch(state, self.dim, **(self.meta.beats or {}))
        if branch is None:
            log.warning(
                "omniretriever: no BEATs weights in %s: audio goes through the Whisper tower only "
                "(N tokens), so audio, audio-visual and fused vectors are not WAVE-7B's",
                self.base,
            )
            return None
        import torch

        branch.requires_grad_(False)  # frozen: the LoRA trainer tunes the thinker and classify_linear only
        branch.to(self.device, self.dtype)
        if self.device.startswith("cuda"):
            branch.beats.to(torch.float16)  # WAVE runs BEATs in float16 (its CUDA autocast)
        return branch.eval()

    # ---- encoding --------------------------------------------------------------------------------
    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        self.load()
        return encode_with_backoff(self._encode_batch, items, self.options.batch_size, progress)

    def _encode_batch(self, items: Sequence[EncoderInput]) -> list[Embedding]:
        """Every (item, modality-set) pass of the batch, AV-holding passes apart from the rest (the
        thinker's use_audio_in_video flag is per forward)."""
        passes: list[tuple[int, Modality, EncoderInput]] = []
        for i, it in enumerate(items):
            mods = it.modalities()
            text = it.text.strip() if Modality.TEXT in mods else None
            frames = it.frames if Modality.VIDEO in mods else None
            audio = it.audio if Modality.AUDIO in mods else None
            singles = {Modality.TEXT: EncoderInput(text=text), Modality.VIDEO: EncoderInput(frames=frames),
                       Modality.AUDIO: EncoderInput(audio=audio)}  # fmt: skip
            for m in mods:
                passes.append((i, m, singles[m]))
            if len(mods) > 1:
                passes.append((i, Modality.FUSED, EncoderInput(text=text, frames=frames, audio=audio)))
        vectors: list[dict[Modality, np.ndarray]] = [{} for _ in items]
        is_av = [{Modality.VIDEO, Modality.AUDIO} <= set(p[2].modalities()) for p in passes]
        av = [p for p, flag in zip(passes, is_av, strict=True) if flag]
        rest = [p for p, flag in zip(passes, is_av, strict=True) if not flag]
        for group, use_av in ((rest, False), (av, True)):
            if group:
                embs = self.embed([p[2] for p in group], use_audio_in_video=use_av)
                for (i, m, _), e in zip(group, embs, strict=True):
                    vectors[i][m] = e
        for v in vectors:
            if v and Modality.FUSED not in v:
                v[Modality.FUSED] = next(iter(v.values()))
        return [Embedding(vectors=v) for v in vectors]

    def embed(self, items: Sequence[EncoderInput], use_audio_in_video: bool = False) -> np.ndarray:
        """(len(items), dim) L2-normalised embeddings, one forward pass over all items (inference)."""
        torch = self._torch
        use_amp = self.device.startswith("cuda") and self.dtype != torch.float32
        with torch.inference_mode(), torch.autocast("cuda", dtype=self.dtype, enabled=use_amp):
            emb = self.embed_tensor(items, use_audio_in_video)
        return emb.cpu().numpy()

    def embed_tensor(self, items: Sequence[EncoderInput], use_audio_in_video: bool = False) -> Tensor:
        """(len(items), dim) float32 L2-normalised embeddings on the model's device, one forward pass,
        differentiable (no inference mode, no autocast: the caller chooses; training uses this).

        Example:
            >>> enc.embed_tensor([EncoderInput(text="a dog")]).requires_grad   # doctest: +SKIP
            True
        """
        torch = self._torch
        inputs = self._model_inputs(items, use_audio_in_video)
        out = self.thinker.model(**inputs, output_hidden_states=True, use_cache=False, return_dict=True)
        pooled = torch.cat([h[:, -1, :] for h in out.hidden_states[1:]], dim=-1)
        emb = self.head(pooled.to(self.head[0].weight.dtype)).float()
        return torch.nn.functional.normalize(emb, dim=-1)

    def audio_embeds(self, waves: list[np.ndarray]) -> tuple[Tensor, list[int]]:
        """(sum of tokens, H) audio-slot embeddings of fitted waves (P.fit_audio) and each wave's slot
        count: Whisper tokens, interleaved w0, b0, w1, b1, ... with the BEATs branch's when loaded."""
        torch = self._torch
        feats, mask = P.whisper_features(self.extractor, waves)
        n_tokens = [P.audio_tokens(int(m.sum())) for m in mask]
        whisper = self.thinker.model.get_audio_features(
            torch.from_numpy(feats).to(self.device, self.dtype), torch.from_numpy(mask).to(self.device)
        ).last_hidden_state
        if self.beats is None:
            return whisper, n_tokens
        from omnisearch.models.beats import interleave

        beats = self.beats([torch.from_numpy(w) for w in waves], n_tokens)
        parts = zip(whisper.split(n_tokens), beats.split(n_tokens), strict=True)
        return torch.cat([interleave(w, b) for w, b in parts]), [2 * n for n in n_tokens]

    def _model_inputs(self, items: Sequence[EncoderInput], use_audio_in_video: bool) -> dict:
        """Keyword arguments of the thinker's model: ids, mask, our M-RoPE positions, the input
        embeddings with the audio slots filled, and the video pixels (the thinker embeds those)."""
        torch = self._torch
        waves = [P.fit_audio(it.audio) for it in items if Modality.AUDIO in it.modalities()]
        repeat = 1 if self.beats is None else 2
        audio, slots = self.audio_embeds(waves) if waves else (None, [])
        rows, grids, row_spg, patches = [], [], [], []
        a = 0
        for it in items:
            mods = it.modalities()
            text_ids = (
                self.tokenizer(it.text.strip(), add_special_tokens=False)["input_ids"] if it.text else None
            )
            grid = na = None
            spg = 2.0  # 1 fps when the clip's duration is unknown
            if Modality.AUDIO in mods:
                na, a = slots[a] // repeat, a + 1
            if Modality.VIDEO in mods:
                frames = P.sample_frames(it.frames, self.frames_per_clip)
                x, grid = P.video_patches(frames)
                if Modality.AUDIO in mods:
                    spg = P.TEMPORAL / (len(frames) / (len(it.audio) / P.RATE))
                patches.append(x)
            grids.append(grid)
            row_spg.append(spg)
            rows.append(P.prompt_ids(self.ids, text_ids, self.default_ids, grid, na, spg, repeat))
        ids, attn = P.left_pad(rows, self.ids.pad)
        input_ids = torch.from_numpy(ids).to(self.device)
        inputs: dict = {"input_ids": input_ids, "attention_mask": torch.from_numpy(attn).to(self.device)}
        positions = P.batch_positions(rows, self.ids, grids, row_spg)
        inputs["position_ids"] = torch.from_numpy(positions).to(self.device)
        embeds = self.thinker.model.get_input_embeddings()(input_ids)
        if audio is not None:
            slot_mask = input_ids == self.ids.audio
            if int(slot_mask.sum()) != audio.shape[0]:
                raise RuntimeError(
                    f"{int(slot_mask.sum())} audio slots in the prompts, {audio.shape[0]} tokens"
                )
            embeds = embeds.masked_scatter(slot_mask.unsqueeze(-1), audio.to(embeds.dtype))
        inputs["inputs_embeds"] = embeds
        if patches:
            inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(patches)).to(
                self.device, self.dtype
            )
            video = [(g, t) for g, t in zip(grids, row_spg, strict=True) if g]
            inputs["video_grid_thw"] = torch.tensor(
                [g for g, _ in video], dtype=torch.long, device=self.device
            )
            inputs["video_second_per_grid"] = torch.tensor(
                [t for _, t in video], dtype=torch.float32, device=self.device
            )
        inputs["use_audio_in_video"] = use_audio_in_video
        return inputs
