"""omniretriever-7b on tiny random checkpoints (built here with save_pretrained), its prompt layouts,
and the OOM back-off helper (pure python)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from media_cases import assert_fused_follows_each_modality, modality_cases, random_media, text_vectors

from omnisearch.models import omniretriever_prompt as P
from omnisearch.models.batching import encode_with_backoff, is_oom
from omnisearch.types import EncoderInput, Modality

T, V, A, F = Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED


# ---- batching: halve on OOM down to 1, then re-raise ---------------------------------------------
def _fake(limit: int, calls: list[int], exc: type[BaseException] = RuntimeError):
    def fn(batch):
        calls.append(len(batch))
        if len(batch) > limit:
            raise exc("CUDA out of memory. Tried to allocate 20.00 GiB")
        return [x * 10 for x in batch]

    return fn


def test_backoff_halves_until_it_fits_and_keeps_order():
    calls: list[int] = []
    done: list[int] = []
    out = encode_with_backoff(_fake(2, calls), list(range(7)), batch_size=8, progress=done.append)
    assert out == [x * 10 for x in range(7)]
    assert calls == [7, 3, 1, 1, 1, 1, 1, 1, 1] or calls[:2] == [7, 3]
    assert sum(done) == 7 and max(done) <= 2


def test_backoff_reraises_at_batch_of_one_and_passes_other_errors():
    with pytest.raises(RuntimeError, match="out of memory"):
        encode_with_backoff(_fake(0, []), [1, 2, 3], batch_size=4)
    with pytest.raises(ValueError):
        encode_with_backoff(lambda b: (_ for _ in ()).throw(ValueError("bad")), [1], batch_size=4)


def test_backoff_recognises_torch_oom_type():
    import torch

    calls: list[int] = []
    assert is_oom(torch.cuda.OutOfMemoryError("boom"))
    out = encode_with_backoff(_fake(2, calls, torch.cuda.OutOfMemoryError), [1, 2, 3, 4], batch_size=4)
    assert out == [10, 20, 30, 40] and calls[0] == 4 and max(calls[1:]) <= 2


# ---- prompt layouts (pure) -----------------------------------------------------------------------
IDS = P.SpecialIds(audio=1, audio_bos=2, audio_eos=3, vision_bos=4, vision_eos=5, video=6, im_end=7, pad=0)


def test_prompt_layouts():
    txt, dflt = [40, 41], [50]
    assert P.prompt_ids(IDS, txt, dflt, None, None, 2.0) == [40, 41, 7]
    v = P.prompt_ids(IDS, None, dflt, (4, 16, 16), None, 2.0)
    assert v == [4] + [6] * 256 + [5, 50, 7]  # 224x224 x 8 frames -> 256 tokens, default sentence
    a = P.prompt_ids(IDS, txt, dflt, None, 5, 2.0)
    assert a == [2, 1, 1, 1, 1, 1, 3, 40, 41, 7]  # the caption replaces the default sentence
    av = P.prompt_ids(IDS, None, dflt, (4, 4, 4), 150, 1.25)
    assert av[:2] == [4, 2] and av[-4:] == [3, 5, 50, 7]
    body = av[2:-4]
    assert body.count(6) == 16 and body.count(1) == 150
    # chunks of 2 * 1.25 s = 62.5 positions (the processor's float): 2 frame-grids (8 video tokens),
    # then audio 0..62 (63 tokens), then the next 8 video tokens, ...
    assert body[:8] == [6] * 8 and body[8:71] == [1] * 63 and body[71:79] == [6] * 8
    av2 = P.prompt_ids(IDS, None, dflt, (4, 4, 4), 150, 1.25, audio_repeat=2)[
        2:-4
    ]  # WAVE: every AUDIO doubled
    assert av2.count(1) == 300 and av2[:8] == [6] * 8 and av2[8:134] == [1] * 126 and av2[134:142] == [6] * 8
    assert P.prompt_ids(IDS, txt, dflt, None, 5, 2.0, audio_repeat=2) == [2] + [1] * 10 + [3, 40, 41, 7]


def test_rope_positions_of_an_av_row_follow_wave():
    """Both bos at p, audio slots p+1, p+2, ... in order of appearance (2N), video at (t*spg*25, h, w)
    from p+1, eos after the last run's largest position, then text."""
    row = P.prompt_ids(IDS, [40], [50], (4, 4, 4), 150, 1.25, audio_repeat=2)
    pos = P.rope_positions(row, IDS, (4, 4, 4), 1.25)
    assert pos[:, :2].tolist() == [[0, 0]] * 3  # vision_bos, audio_bos
    audio = [j for j, t in enumerate(row) if t == 1]
    assert pos[0, audio].tolist() == list(range(1, 301)) and (pos[:, audio] == pos[0, audio]).all()
    video = [j for j, t in enumerate(row) if t == 6]
    assert pos[0, video].tolist() == [1 + t for t in (0, 31, 62, 93) for _ in range(4)]
    assert pos[1, video].tolist() == [1 + h for _ in range(4) for h in (0, 0, 1, 1)]
    last_run_max = 300  # the row ends with an audio run (audio 264..300)
    assert pos[:, -4:-2].tolist() == [[last_run_max + 1] * 2] * 3 and pos[:, -2:].tolist() == [[302, 303]] * 3


def test_left_pad_and_frames_and_audio_helpers():
    ids, mask = P.left_pad([[5, 6, 7], [9]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 9]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert P.sample_frames(np.arange(20)[:, None], 8)[:, 0].tolist() == [0, 3, 5, 8, 11, 14, 16, 19]
    assert len(P.fit_audio(np.zeros(100))) == 16000 and P.audio_tokens(100) == 25


def test_video_patches_match_qwen2vl_pil_image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    frame = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    mine, grid = P.video_patches(np.stack([frame, frame]))
    proc = Qwen2VLImageProcessorPil(size={"shortest_edge": P.PIXELS, "longest_edge": P.PIXELS})
    ref = proc(images=[frame], return_tensors="np")
    assert tuple(ref["image_grid_thw"][0][1:]) == grid[1:] and grid[0] == 1
    np.testing.assert_allclose(mine, ref["pixel_values"], atol=1e-6)  # exact in practice


# ---- the encoder on tiny checkpoints -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_checkpoints import build_omniretriever

    return build_omniretriever(tmp_path_factory.mktemp("omniretriever"), beats=True)


@pytest.fixture(scope="module")
def enc(tiny):
    from omnisearch.models.registry import load_encoder

    return load_encoder(str(tiny)).load()


def _media(seed=0, seconds=2.5):
    return random_media(seed, seconds, size=(36, 64))


def test_keys_shapes_norms_for_singles_duals_and_triple(enc):
    fr, au = _media()
    cases = modality_cases(fr, au)
    embs = enc.encode(list(cases.values()))
    for mods, emb in zip(cases, embs, strict=True):
        assert set(emb.vectors) == {*mods, F}
        for vec in emb.vectors.values():
            assert vec.shape == (enc.dim,) and vec.dtype == np.float32
            assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    assert np.allclose(embs[0].vectors[F], embs[0].vectors[T])  # a single modality's fused is itself
    assert not np.allclose(embs[6].vectors[F], embs[6].vectors[T])


def test_deterministic_and_left_padding_batch_invariant(enc):
    texts = ["a", "a much longer caption about a dog barking at the mailman"]
    both = text_vectors(enc, texts)
    alone = np.stack([text_vectors(enc, [t])[0] for t in texts])
    np.testing.assert_allclose(both, alone, atol=1e-5)
    np.testing.assert_array_equal(text_vectors(enc, texts), both)
    fr, au = _media(0, seconds=1.7)
    _, au_long = _media(1, seconds=4.2)
    items = [
        EncoderInput(audio=au),
        EncoderInput(audio=au_long, frames=fr),
        EncoderInput(frames=fr, text="x"),
    ]
    for x, y in zip(enc.encode(items), [enc.encode([it])[0] for it in items], strict=True):
        for m in x.vectors:
            np.testing.assert_allclose(x.vectors[m], y.vectors[m], atol=1e-5)
    inputs = enc._model_inputs([EncoderInput(text=t) for t in texts], False)
    ids = inputs["input_ids"].numpy()
    assert ids[0, 0] == enc.ids.pad and (ids[:, -1] == enc.ids.im_end).all()


def test_fused_changes_when_any_single_modality_changes(enc):
    (fr, au), (fr2, _) = _media(0), _media(1)
    assert_fused_follows_each_modality(enc, fr, au, fr2)


def test_missing_weights_give_a_clear_error(monkeypatch):
    from omnisearch.models.omniretriever import OmniRetriever

    monkeypatch.delenv("OMNISEARCH_OMNIRETRIEVER", raising=False)
    with pytest.raises(ValueError, match="OMNISEARCH_OMNIRETRIEVER"):
        OmniRetriever()


def test_head_required_unless_flagged(tmp_path):
    from tiny_checkpoints import build_thinker

    from omnisearch.models.omniretriever import OmniRetriever

    build_thinker(tmp_path)
    with pytest.raises(ValueError, match="classify_linear"):
        OmniRetriever(model=str(tmp_path)).load()


def test_adapter_and_head_loading(tmp_path, enc):
    """LoRA lands (vectors change vs the base; old transformers-4 key layout too; unknown names
    raise), and the head is read from head.safetensors or from the adapter's modules_to_save."""
    from safetensors.torch import load_file, save_file
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    items = [EncoderInput(text="a dog barks")]
    ad = build_omniretriever(tmp_path / "ad", adapter=True, head="adapter")
    v_ad = load_encoder(str(ad)).encode(items)[0].vectors[T]
    (ad / "base" / "omnisearch.json").write_text(json.dumps({"encoder": "omniretriever-7b"}))
    save_file(load_file(str(ad / "adapter_model.safetensors")), str(ad / "base" / "head.safetensors"))
    v_base = load_encoder(str(ad / "base")).encode(items)[0].vectors[T]  # same head, no LoRA
    assert float(np.abs(v_ad - v_base).max()) > 1e-3

    f = Path(ad) / "adapter_model.safetensors"
    sd = load_file(str(f))
    save_file({k.replace("model.language_model.layers", "model.layers"): v for k, v in sd.items()}, str(f))
    np.testing.assert_allclose(load_encoder(str(ad)).encode(items)[0].vectors[T], v_ad, atol=1e-6)
    save_file({k.replace("self_attn", "mystery_attn"): v for k, v in sd.items()}, str(f))
    with pytest.raises((RuntimeError, ValueError)):
        load_encoder(str(ad)).encode(items)

    full = build_omniretriever(tmp_path / "full", head="file")
    v_file = load_encoder(str(full)).encode(items)[0].vectors[T]
    np.testing.assert_allclose(v_file, v_base, atol=1e-6)  # same thinker seed, same head seed
    assert float(np.abs(v_file - enc.encode(items)[0].vectors[T]).max()) > 1e-3  # vs the random head


# ---- the BEATs branch (WAVE-7B's audio) ------------------------------------------------------------
def _wave(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def test_token_counts_for_4_and_30_seconds(enc):
    """4 s: 400 mel frames -> N = 100 Whisper tokens, 398 fbank frames -> 192 BEATs patches padded to
    2N = 200 and pooled to 100; 200 audio slots. 30 s: 3000 -> 750; 2998 -> 1496 -> 1500 -> 750; 1500."""
    import torch

    assert enc.beats is not None
    for seconds, n, patches in ((4, 100, 192), (30, 750, 1496)):
        w = _wave(seconds)
        inputs = enc._model_inputs([EncoderInput(audio=w)], False)
        assert int((inputs["input_ids"] == enc.ids.audio).sum()) == 2 * n
        assert P.audio_tokens(len(w) // P.HOP) == n
        with torch.no_grad():
            assert enc.beats.beats.extract(torch.from_numpy(w)).shape[0] == patches
            assert enc.beats([torch.from_numpy(w)], [n]).shape == (n, enc.dim)


def test_audio_slots_hold_whisper_and_beats_interleaved(enc):
    import torch

    waves = [_wave(2.2, 1), _wave(1.3, 2)]
    with torch.no_grad():
        inputs = enc._model_inputs([EncoderInput(audio=w) for w in waves], False)
        feats, mask = P.whisper_features(enc.extractor, [P.fit_audio(w) for w in waves])
        whisper = enc.thinker.model.get_audio_features(torch.from_numpy(feats), torch.from_numpy(mask))
        n = [P.audio_tokens(int(m.sum())) for m in mask]
        beats = enc.beats([torch.from_numpy(w) for w in waves], n)
    slots = inputs["inputs_embeds"][inputs["input_ids"] == enc.ids.audio]
    w, b = whisper.last_hidden_state.split(n), beats.split(n)
    rows = [x for i in range(2) for k in range(n[i]) for x in (w[i][k], b[i][k])]  # w0, b0, w1, b1, ...
    torch.testing.assert_close(slots, torch.stack(rows))


def test_positions_match_transformers_where_its_rule_applies(tmp_path):
    """Whisper-only rows (N slots): text, audio, video, text+video, and an AV row at 2 fps (2 s
    chunks, which is all transformers' get_rope_index knows) equal transformers' positions."""
    import torch
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    plain = load_encoder(str(build_omniretriever(tmp_path / "w"))).load()
    assert plain.beats is None
    fr, au = _media(0, seconds=4.0)
    groups = [
        ([EncoderInput(text="a b c"), EncoderInput(audio=au), EncoderInput(frames=fr)], False),
        ([EncoderInput(frames=fr, text="x y")], False),
        ([EncoderInput(frames=fr, audio=au)], True),
    ]
    for group, av in groups:
        inputs = plain._model_inputs(group, av)
        mask = (
            P.whisper_features(plain.extractor, [P.fit_audio(au)])[1]
            if any(i.audio is not None for i in group)
            else None
        )
        ref, _ = plain.thinker.model.get_rope_index(
            inputs["input_ids"], None, inputs.get("video_grid_thw"), inputs["attention_mask"], av,
            torch.from_numpy(mask.sum(-1)) if mask is not None else None, inputs.get("video_second_per_grid"),
        )  # fmt: skip
        valid = inputs["attention_mask"].bool()
        assert torch.equal(inputs["position_ids"][:, valid], ref[:, valid])


def test_audio_and_fused_vectors_change_with_the_beats_weights(tmp_path, enc):
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    other = load_encoder(str(build_omniretriever(tmp_path / "b7", beats=True, beats_seed=7))).load()
    fr, au = _media(0)
    items = [EncoderInput(text="a dog barks", frames=fr, audio=au)]
    mine, theirs = enc.encode(items)[0].vectors, other.encode(items)[0].vectors
    for m in (A, F):
        assert float(np.abs(mine[m] - theirs[m]).max()) > 1e-4
    for m in (T, V):
        np.testing.assert_allclose(mine[m], theirs[m], atol=1e-6)


def test_without_beats_weights_whisper_only_with_a_warning(tmp_path, caplog):
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    with caplog.at_level("WARNING", logger="omnisearch.models.omniretriever"):
        plain = load_encoder(str(build_omniretriever(tmp_path / "w"))).load()
    assert plain.beats is None and "no BEATs weights" in caplog.text
    inputs = plain._model_inputs([EncoderInput(audio=_wave(4))], False)
    assert int((inputs["input_ids"] == plain.ids.audio).sum()) == 100


def test_adapter_beats_ln_and_proj_override_the_base(tmp_path):
    from safetensors.torch import load_file
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    ad = build_omniretriever(tmp_path / "ad", adapter=True, head="adapter", beats=True)
    enc = load_encoder(str(ad)).load()
    adapter, base = (
        load_file(str(ad / "adapter_model.safetensors")),
        load_file(str(ad / "base" / "model.safetensors")),
    )
    np.testing.assert_allclose(
        enc.beats.beats_ln.weight.detach(), adapter["base_model.model.beats_ln.weight"]
    )
    np.testing.assert_allclose(
        enc.beats.beats_proj[2].bias.detach(), adapter["base_model.model.beats_proj.2.bias"]
    )
    np.testing.assert_allclose(
        enc.beats.beats.patch_embedding.weight.detach(), base["beats.patch_embedding.weight"]
    )


def test_short_audio_is_padded_with_silence_to_one_second_and_encoding_is_deterministic(enc):
    short = _wave(0.3, 4)
    padded = np.concatenate([short, np.zeros(16000 - len(short), np.float32)])
    a, b = enc.encode([EncoderInput(audio=short), EncoderInput(audio=padded)])
    np.testing.assert_allclose(a.vectors[A], b.vectors[A], atol=1e-6)
    again = enc.encode([EncoderInput(audio=short)])[0]
    np.testing.assert_array_equal(again.vectors[A], enc.encode([EncoderInput(audio=short)])[0].vectors[A])


def test_beats_settings_that_shapes_hide_come_from_omnisearch_json(tmp_path):
    from tiny_checkpoints import build_omniretriever

    from omnisearch.models.registry import load_encoder

    root = build_omniretriever(tmp_path / "b", beats=True)
    items = [EncoderInput(audio=_wave(3.0))]
    default = load_encoder(str(root)).load()
    assert (default.beats.beats.cfg.max_distance, default.beats.beats.cfg.deep_norm) == (800, True)
    meta = json.loads((root / "omnisearch.json").read_text())
    (root / "omnisearch.json").write_text(
        json.dumps({**meta, "beats": {"max_distance": 400, "deep_norm": False}})
    )
    other = load_encoder(str(root)).load()
    assert (other.beats.beats.cfg.max_distance, other.beats.beats.cfg.deep_norm) == (400, False)
    assert float(np.abs(other.encode(items)[0].vectors[A] - default.encode(items)[0].vectors[A]).max()) > 1e-4


def test_beats_from_an_extra_shard_of_a_sharded_checkpoint(tmp_path):
    from tiny_checkpoints import add_shard, beats_state, build_omniretriever
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from omnisearch.models.registry import load_encoder

    root = build_omniretriever(tmp_path / "s")
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(root)
    (root / "model.safetensors").unlink()
    model.save_pretrained(root, max_shard_size="100KB")
    index = json.loads((root / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    add_shard(root, beats_state(32, seed=3, prefix="thinker."), "beats.safetensors")
    enc = load_encoder(str(root)).load()
    assert enc.beats is not None and enc.beats.beats.cfg.layers == 2
    slots = enc._model_inputs([EncoderInput(audio=_wave(4))], False)["input_ids"] == enc.ids.audio
    assert int(slots.sum()) == 200
