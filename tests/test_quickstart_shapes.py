"""scripts/quickstart_shapes.py's shape accuracy, on cases with known answers."""

import importlib.util
from pathlib import Path

from bench.data.dsprites import DSprites
from bench.data.params import ImageSizeParams

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "quickstart_shapes.py"


def test_shape_accuracy_known_answers():
    spec = importlib.util.spec_from_file_location("quickstart_shapes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = DSprites(ImageSizeParams(image_size=32))
    images, factors = data.sample(300, 0)
    assert module.shape_accuracy(data, images, factors) == 1.0  # the targets themselves
    wrong = factors.copy()
    wrong[:, 0] = (factors[:, 0] + 1) % 3
    assert module.shape_accuracy(data, data.render(wrong), factors) == 0.0  # every sprite drawn as another shape
