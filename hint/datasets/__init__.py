"""Data for HINT: image I/O, clean-image sources, hole masks and inpainting pipelines.

This package sits at the bottom of `hint`: it depends on TensorFlow, NumPy, Pillow and
scikit-image only, and imports no other `hint` module. Images are float32 NHWC in [0, 1]; masks
are float32 [..., H, W, 1] with 1 = hole.

- `hint.datasets.image_io`: `read_image`, `write_image`, `atomic_write`, `list_images`.
- `hint.datasets.sources`: `ImageSource` / `image_sources` (train and validation crops from a folder
  or from the photographs bundled with scikit-image), `fixed_crops`, `embedded_images`.
- `hint.datasets.masks`: `MaskGenerator` (freeform / wide / rect / center / text / pixels /
  folder / mix, stateless and seeded, inside tf.data) and `evaluation_masks` (fixed masks by
  hole-ratio bucket).
- `hint.datasets.pipelines`: `inpainting_pipeline`, `validation_pipeline`, `evaluation_pipeline`,
  `denoising_pipeline`.
- `hint.datasets.degradations`: `make_degradation` (gaussian / poisson / salt_pepper / speckle /
  quantization / dither / dropout, stateless and seeded, inside tf.data).
"""

from hint.datasets.degradations import (
    DEGRADATION_KINDS,
    Degradation,
    degradation_config,
    degradation_from_config,
    make_degradation,
)
from hint.datasets.image_io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    atomic_write,
    list_images,
    probe_image,
    read_image,
    write_image,
)
from hint.datasets.masks import (
    DEFAULT_MIX_WEIGHTS,
    EVALUATION_BUCKETS,
    MASK_KINDS,
    MaskGenerator,
    bucket_name,
    evaluation_masks,
    hole_ratio,
    load_mask_folder,
)
from hint.datasets.pipelines import (
    degrade,
    denoising_pipeline,
    evaluation_pipeline,
    inpainting_pipeline,
    validation_pipeline,
)
from hint.datasets.sources import (
    EMBEDDED_IMAGES,
    ImageSource,
    embedded_image_names,
    embedded_images,
    fixed_crops,
    image_sources,
)

__all__ = [
    "DEFAULT_MIX_WEIGHTS",
    "DEGRADATION_KINDS",
    "Degradation",
    "EMBEDDED_IMAGES",
    "EVALUATION_BUCKETS",
    "IMAGE_EXTENSIONS",
    "MASK_KINDS",
    "ImageReadError",
    "ImageSource",
    "MaskGenerator",
    "atomic_write",
    "bucket_name",
    "degradation_config",
    "degradation_from_config",
    "degrade",
    "denoising_pipeline",
    "embedded_image_names",
    "embedded_images",
    "evaluation_masks",
    "evaluation_pipeline",
    "fixed_crops",
    "hole_ratio",
    "image_sources",
    "inpainting_pipeline",
    "list_images",
    "load_mask_folder",
    "make_degradation",
    "probe_image",
    "read_image",
    "validation_pipeline",
    "write_image",
]
