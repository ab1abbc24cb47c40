"""Image files -> RGB PIL images -> normalised tensors, for the captioning path.

The model's square input comes from a photo in one of two ways (`data.image_transform`, what training did): `crop`
scales the shorter side and keeps the centred square, `squash` scales the whole image to a square, ratio not kept.

Loading is strict: a missing, unreadable, truncated or oversized file is an ImageError naming the file, never a
silently half-grey picture. Size limits (pixels, aspect ratio, size once resized) are checked on the header, before
anything big is allocated. torchvision is imported only inside the transform builders.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from seq2seq.errors import UserError

MAX_PIXELS = 50_000_000  # width * height above which an image is refused before decoding
MAX_ASPECT = 20  # longer side / shorter side: scaling the shorter side to 224 makes a thin strip enormous
MAX_RESIZED_PIXELS = 10_000_000  # width * height once the shorter side is scaled to the model's image size
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRANSFORMS = ("crop", "squash")


class ImageError(UserError):
    """An image file that cannot be used: missing, not an image, damaged or too large."""


def load_image(path: str | Path | bytes, name: str = "upload") -> Image.Image:
    """The image at `path` (or in these bytes, called `name` in errors), fully decoded, EXIF-rotated upright and
    converted to 8-bit RGB."""
    if isinstance(path, bytes):
        source, path = io.BytesIO(path), name
    else:
        path = Path(path)
        if not path.is_file():
            raise ImageError(f"{path}: no such image file")
        source = path
    try:
        with Image.open(source) as img:
            check_size(*img.size, name=str(path))  # on the header, before any pixel is decoded
            img.load()  # decode everything now, so truncated data fails here and not in a worker later
            check_size(*img.size, name=str(path))  # a few formats decode to another size than the header's
            return to_rgb(upright(img))
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image too large ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{path}: not an image file (or a format PIL cannot read)") from e
    except (OSError, ValueError, SyntaxError) as e:  # PIL reports damaged data with all three
        raise ImageError(f"{path}: damaged or truncated image ({e})") from e


def check_size(width: int, height: int, name: str = "image", size: int | None = None, transform: str = "crop"
               ) -> None:
    """Refuse an image over the limits on its pixels, its aspect ratio and (given the model's `size`) its size once
    resized for `transform`, so that nothing that big is ever allocated. ImageError naming `name`."""
    w, h = width, height
    if w < 1 or h < 1:
        raise ImageError(f"{name}: empty image ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise ImageError(f"{name}: image too large ({w}x{h} = {w * h:,} pixels, at most {MAX_PIXELS:,})")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"{name}: image too elongated ({w}x{h}, aspect ratio {max(w, h) / min(w, h):,.0f}:1, at "
                         f"most {MAX_ASPECT}:1)")
    if size is not None:
        rw, rh = resized_size(w, h, size, transform)
        if rw * rh > MAX_RESIZED_PIXELS:
            raise ImageError(f"{name}: image too large once resized ({w}x{h} -> {rw}x{rh} = {rw * rh:,} pixels, at "
                             f"most {MAX_RESIZED_PIXELS:,})")


def resized_size(width: int, height: int, size: int, transform: str = "crop") -> tuple[int, int]:
    """(width, height) after the transform's resize: `size` x `size` for squash; for crop torchvision's
    Resize(size), the shorter side becomes `size` and the ratio is kept."""
    if transform == "squash":
        return size, size
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def region(width: int, height: int, size: int, transform: str = "crop") -> tuple[int, int, int, int]:
    """(left, top, width, height), in the image's pixels, of what eval_transform keeps: the whole image for squash,
    for crop the square that Resize(size) + CenterCrop(size) keep (the centred square of side min(width, height),
    to within torchvision's rounding)."""
    if transform == "squash":
        return 0, 0, width, height
    rw, rh = resized_size(width, height, size)
    sx, sy = width / rw, height / rh  # resized pixels -> original pixels
    left, top = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))  # as CenterCrop places it
    return round(left * sx), round(top * sy), min(width, round(size * sx)), min(height, round(size * sy))


class SizeCheck:
    """First step of the eval transform: check_size against the resize to come (for PIL images given directly)."""

    def __init__(self, size: int, transform: str = "crop"):
        self.size, self.transform = size, transform

    def __call__(self, img: Image.Image) -> Image.Image:
        check_size(*img.size, name="input", size=self.size, transform=self.transform)
        return img


def upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos are stored sideways); a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - orientation metadata is optional
        return img


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode (an RGB image is returned as is): alpha composited on white, 16-bit rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float64)  # (H, W)
        if img.mode.startswith("I;16") or (img.mode == "I" and a.max(initial=0) > 255):
            a = a / 257.0  # 16-bit range 0..65535 -> 0..255 (convert("L") would clip instead)
        return Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8)).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise UserError(f"unknown image transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")


def eval_transform(size: int = 224, transform: str = "crop"):
    """Deterministic: size limits, then crop (shorter side to `size`, centre crop `size` x `size`) or squash (the
    whole image resized to `size` x `size`), ImageNet normalisation -> (3, S, S). On a `size` x `size` image both
    resizes are the identity."""
    from torchvision import transforms as T  # lazy: keeps start-up fast

    _check_transform(transform)
    resize = [T.Resize((size, size))] if transform == "squash" else [T.Resize(size), T.CenterCrop(size)]
    return T.Compose([SizeCheck(size, transform), *resize, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(size: int = 224, transform: str = "crop"):
    """Light augmentation for finetuning the backbone: random crop (70-100% of the area; of the squashed square for
    squash), flip, colour jitter."""
    from torchvision import transforms as T  # lazy: keeps start-up fast

    _check_transform(transform)
    squash = [T.Resize((size, size))] if transform == "squash" else []
    return T.Compose([*squash, T.RandomResizedCrop(size, scale=(0.7, 1.0)), T.RandomHorizontalFlip(),
                      T.ColorJitter(0.1, 0.1, 0.1), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def transform_key(size: int, train: bool, transform: str = "crop") -> str:
    """A short id of the transform, part of feature-cache keys; change it whenever the transform changes (the crop
    ids are those from before squash existed, so existing caches stay valid)."""
    _check_transform(transform)
    squash = f"squash{size}-" if transform == "squash" else ""
    if train:
        return f"train-{squash}rrc{size}s0.7-flip-cj0.1-imagenet"
    return f"eval-{squash}imagenet" if squash else f"eval-resize{size}-crop{size}-imagenet"
