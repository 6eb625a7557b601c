"""Vision, for image captioning: image files read safely, encoders from pixels to region features, and
the on-disk caches of features (frozen encoders) and pixels (encoders trained inside the model)."""

from .cache import cached_features, cached_pixels
from .encoders import (
    ENCODERS, EfficientNetLite0Encoder, ImageEncoder, LocalCNN, ModuleEncoder, SmallCNN, build_encoder,
    register_encoder, registered_encoders,
)
from .images import IMAGE_SIZE, file_digest, read_image, read_images, to_tensor

__all__ = [
    "ENCODERS", "IMAGE_SIZE", "EfficientNetLite0Encoder", "ImageEncoder", "LocalCNN", "ModuleEncoder", "SmallCNN",
    "build_encoder", "cached_features", "cached_pixels", "file_digest", "read_image", "read_images", "register_encoder",
    "registered_encoders", "to_tensor",
]
