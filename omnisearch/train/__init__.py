"""Training: the loss, augmentations, the loop and the tasks (heads, LoRA). Needs the 'train' extra.

Example:
    >>> from omnisearch.train.trainer import TrainConfig, train  # doctest: +SKIP
"""

from omnisearch.extras import require

require("train", "training (omnisearch train, ablation, omnisearch.train)")
