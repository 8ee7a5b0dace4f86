"""The one omnisearch.json schema (models/folder.py): round trip, the errors of a bad or foreign
folder, and what reads it (load_encoder, the heads files, the training task choice)."""

from __future__ import annotations

import json

import pytest

from omnisearch.models.folder import (
    ModelFolderError,
    ModelFolderInfo,
    read_model_info,
    write_model_info,
)


def test_round_trip_keeps_every_field_and_the_rest(tmp_path):
    data = {"encoder": "clip-clap", "alpha": 0.5, "clip": "towers/clip", "heads": {"dim": 8}, "note": "x"}
    info = ModelFolderInfo.from_dict(data)
    assert (info.encoder, info.alpha, info.link("clip"), info.extra) == (
        "clip-clap",
        0.5,
        "towers/clip",
        {"note": "x"},
    )
    path = write_model_info(tmp_path, info)
    assert json.loads(path.read_text()) == data and path.read_text().endswith("}\n")
    assert read_model_info(tmp_path) == info and read_model_info(tmp_path / "nothing") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object but list"),
        ('{"alpha": 0.5}', 'no "encoder"'),
        ('{"encoder": "omni-lite", "alpha": "half"}', '"alpha" must be a number'),
        ('{"encoder": "omni-lite", "heads": [1]}', '"heads" must be an object'),
        ('{"encoder": "clip-clap", "clip": 3}', '"clip" must be a string'),
        ('{"encoder": "omniretriever-7b", "random_head": "yes"}', '"random_head" must be true or false'),
    ],
)
def test_a_bad_file_names_itself_and_the_field(tmp_path, text, message):
    (tmp_path / "omnisearch.json").write_text(text)
    with pytest.raises(ModelFolderError, match=message) as err:
        read_model_info(tmp_path)
    assert str(tmp_path / "omnisearch.json") in str(err.value)


def test_load_encoder_refuses_a_foreign_folder(tmp_path):
    from omnisearch.models import load_encoder

    write_model_info(tmp_path, ModelFolderInfo("word2vec"))
    with pytest.raises(ModelFolderError, match="names unknown encoder 'word2vec': use one of omni-lite"):
        load_encoder(str(tmp_path))
    (tmp_path / "omnisearch.json").write_text('{"encoder": 7}')
    with pytest.raises(ValueError, match='no "encoder"'):
        load_encoder(str(tmp_path))


def test_a_folder_without_heads_is_not_a_heads_folder(tmp_path):
    pytest.importorskip("torch")
    from omnisearch.models.heads import load_heads

    write_model_info(tmp_path, ModelFolderInfo("omni-lite", alpha=0.5))
    with pytest.raises(ModelFolderError, match='holds no "heads"'):
        load_heads(tmp_path)


def test_the_shipped_heads_parse():
    from pathlib import Path

    import omnisearch.models

    info = read_model_info(Path(omnisearch.models.__file__).parent / "weights" / "omni-lite-tuned.json")
    assert info is not None and info.encoder == "omni-lite" and info.dtype == "float16"
    assert info.heads is not None and info.layout is not None and 0.0 < (info.alpha or 0.0) < 1.0


def test_training_task_follows_the_declared_capabilities():
    from omnisearch.models import load_encoder
    from omnisearch.train.tasks import TrainError, choose_task, load_trainable

    class Checkpoint:  # a LoraTrainable (models.capabilities) without a base class
        def lora_location(self) -> str:
            return "/models/thinker"

    assert choose_task(load_encoder("omni-lite")) == "heads" and choose_task(Checkpoint()) == "lora"
    with pytest.raises(TrainError, match="--lora is for clip-clap"):
        choose_task(load_encoder("omni-lite"), lora=True)
    with pytest.raises(TrainError, match="cannot be trained"):
        choose_task(object())
    with pytest.raises(TrainError, match="unknown model 'nope'"):
        load_trainable("nope")
