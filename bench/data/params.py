"""The parameter every image dataset shares: its side in pixels."""

from dataclasses import dataclass

from bench.config import require


@dataclass(frozen=True)
class ImageSizeParams:
    image_size: int = 64

    def __post_init__(self):
        # the conv architectures halve the side four times
        require(self.image_size % 16 == 0 and 16 <= self.image_size <= 256,
                "image_size", f"{self.image_size} is not a multiple of 16 in [16, 256]")
