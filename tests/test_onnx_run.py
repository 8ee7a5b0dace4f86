"""The onnxruntime path of omni-lite's packaged CNNs: the same outputs as torch, exported once per weights.

Example:
    $ .venv/bin/python -m pytest tests/test_onnx_run.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from omnisearch.models import onnx_run  # noqa: E402


class Small(torch.nn.Module):
    """Two outputs, as the concept tower's head has."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        pooled = torch.relu(self.conv(x)).mean((2, 3))
        return self.fc(pooled), pooled


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNISEARCH_CACHE", str(tmp_path))
    return tmp_path / "onnx"


def saved(net, path) -> str:
    torch.save(net.state_dict(), path)
    return str(path)


def loader(path, example):
    """What a tower passes as `build`: the module with the weights of `path`, and an example input."""

    def build():
        net = Small()
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval(), example

    return build


def test_session_equals_torch_at_any_batch_size(cache, tmp_path) -> None:
    torch.manual_seed(0)
    net = Small().eval()
    w = saved(net, tmp_path / "w.pt")
    sess = onnx_run.cpu_session("small", [w], ["small 1"], loader(w, torch.zeros(1, 3, 16, 16)))
    assert sess is not None and len(list(cache.glob("small-*.onnx"))) == 1
    for n in (1, 3, 7):
        x = np.random.default_rng(n).standard_normal((n, 3, 16, 16)).astype(np.float32)
        logits, pooled = sess.run(x)
        with torch.no_grad():
            ref_logits, ref_pooled = net(torch.from_numpy(x))
        assert logits.shape == (n, 5) and pooled.shape == (n, 8)
        assert np.allclose(logits, ref_logits.numpy(), atol=1e-5)
        assert np.allclose(pooled, ref_pooled.numpy(), atol=1e-5)


def test_exported_once_and_again_when_the_weights_or_code_change(cache, tmp_path) -> None:
    net = Small().eval()
    w = saved(net, tmp_path / "w.pt")
    built = []
    example = torch.zeros(1, 3, 8, 8)

    def build():
        built.append(1)
        return loader(w, example)()

    onnx_run.cpu_session("small", [w], ["small 1"], build)
    (first,) = cache.glob("small-*.onnx")
    onnx_run.cpu_session("small", [w], ["small 1"], build)
    assert len(built) == 1  # the cached file is used: the torch module is not even built
    onnx_run.cpu_session("small", [w], ["small 2"], build)  # other network code
    assert len(built) == 2 and len(list(cache.glob("small-*.onnx"))) == 2
    with torch.no_grad():
        net.fc.bias += 1.0
    saved(net, w)
    sess = onnx_run.cpu_session("small", [w], ["small 1"], build)
    assert len(built) == 3 and len(list(cache.glob("small-*.onnx"))) == 3
    x = np.ones((2, 3, 8, 8), np.float32)
    with torch.no_grad():
        assert np.allclose(sess.run(x)[0], net(torch.from_numpy(x))[0].numpy(), atol=1e-5)


def test_a_network_that_cannot_be_exported_stays_on_torch(cache, tmp_path) -> None:
    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(np.asarray(x.shape))  # data-dependent numpy: no ONNX graph

    w = saved(Small(), tmp_path / "w.pt")
    with pytest.warns(RuntimeWarning, match="running on torch"):
        assert onnx_run.cpu_session("odd", [w], ["odd"], lambda: (Odd(), torch.zeros(1, 2))) is None
    assert not list(cache.glob("odd-*.onnx")) and not list(cache.glob(".*tmp"))


def test_session_threads_follow_omp_num_threads() -> None:
    assert onnx_run.session_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert onnx_run.session_threads({}) == 0 and onnx_run.session_threads({"OMP_NUM_THREADS": "x"}) == 0


def test_concept_tower_and_aisfx_match_their_torch_networks(cache) -> None:
    from omnisearch.models.audio_aisfx import AisfxAudio
    from omnisearch.models.concepts import ConceptTower

    rng = np.random.default_rng(1)
    tower = ConceptTower("lite0")
    assert tower.onnx is not None
    frames = rng.integers(0, 255, (3, 90, 160, 3), dtype=np.uint8)
    probs, feats = tower.classify(frames)
    tower.onnx = None
    ref_probs, ref_feats = tower.classify(frames)
    assert np.allclose(probs, ref_probs, atol=1e-5) and np.allclose(feats, ref_feats, atol=1e-4)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)

    aisfx = AisfxAudio()
    assert aisfx.onnx is not None
    audio = [
        rng.standard_normal(16000 * 5).astype(np.float32) * 0.1,
        rng.standard_normal(4000).astype(np.float32),
    ]
    got = aisfx.block_rows(audio)
    aisfx.onnx = None
    ref = aisfx.block_rows(audio)
    for g, r in zip(got, ref, strict=True):
        assert g.rows.shape == r.rows.shape and np.allclose(g.rows, r.rows, atol=1e-4)


def test_numpy_resample_equals_torchaudio() -> None:
    torchaudio = pytest.importorskip("torchaudio")
    from omnisearch.media.resample import resample, sinc_kernel

    kernel, width = sinc_kernel(16000, 44100)
    from torchaudio.functional.functional import _get_sinc_resample_kernel

    ref_kernel, ref_width = _get_sinc_resample_kernel(16000, 44100, 100)
    assert width == ref_width and np.array_equal(kernel, ref_kernel.numpy()[:, 0, :])
    for orig, new, n in ((16000, 44100, 1), (16000, 44100, 16001), (44100, 16000, 9000), (8000, 16000, 777)):
        x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        want = torchaudio.transforms.Resample(orig, new)(torch.from_numpy(x)).numpy()  # what aisfx used
        got = resample(x, orig, new)
        assert got.shape == want.shape and np.allclose(got, want, atol=2e-6)
