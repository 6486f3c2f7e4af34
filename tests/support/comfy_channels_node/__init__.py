"""A test-only ComfyUI pack: tensors and values a foreign node might hand on, for the error sweeps.

Loaded only by the test servers that name it (tests/comfy/test_under_load.py, tests/comfy/test_real_use.py),
beside the TWGTM pack.
"""
import torch


class TestImageChannels:
    """Repeat or cut an IMAGE's channels to `channels` (2: 'grey + alpha', 5: more than any image has)."""

    @classmethod
    def INPUT_TYPES(cls):
        """One image and the channel count."""
        return {"required": {"image": ("IMAGE",), "channels": ("INT", {"default": 2, "min": 1, "max": 8})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, image, channels):
        """The image with exactly `channels` channels."""
        repeats = -(-int(channels) // image.shape[-1])
        return (image.repeat(1, 1, 1, repeats)[..., : int(channels)],)


FAULTS = ("nan", "inf", "negative", "huge", "channels", "tiny", "bomb")


class TestBadTensor:
    """An IMAGE and a MASK made wrong on purpose from an image: NaN or infinite values, values of another scale
    (negative, 0..255), too many channels, too small, or a decompression-bomb size (a view: no memory)."""

    @classmethod
    def INPUT_TYPES(cls):
        """The image to spoil and how."""
        return {"required": {"image": ("IMAGE",), "fault": (list(FAULTS),)}}

    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, image, fault):
        """(image, mask) with the fault."""
        image, mask = image.clone(), image[..., 0].clone()  # (B,H,W,3), (B,H,W)
        if fault == "nan":
            image[0, 0, 0, 0], mask[0, 0, 0] = float("nan"), float("nan")
        elif fault == "inf":
            image[0, 0, 0, 0], mask[0, 0, 0] = float("inf"), float("inf")
        elif fault == "negative":
            image, mask = image - 3.0, mask - 3.0
        elif fault == "huge":
            image, mask = image * 255.0 + 1.0, mask * 255.0 + 1.0
        elif fault == "channels":
            image, mask = image.repeat(1, 1, 1, 2)[..., :5], mask[:, None].repeat(1, 2, 1, 1)  # (B,H,W,5), (B,2,H,W)
        elif fault == "tiny":
            image, mask = image[:, :2, :2], mask[:, :0]  # 2x2 pixels; a mask of no rows
        elif fault == "bomb":  # 12000 x 8000 = 96 M pixels, over Pillow's limit
            image, mask = torch.zeros(1, 1, 1, 3).expand(1, 12000, 8000, 3), torch.zeros(1, 1, 1).expand(1, 12000, 8000)
        return image, mask


class TestPlaceholder:
    """A value of a core type whose real producer needs weights the tests do not have (a FLUX MODEL, a text
    CONDITIONING): for the error sweep, whose bad inputs are refused before a node uses its model."""

    @classmethod
    def INPUT_TYPES(cls):
        """No inputs."""
        return {"required": {}}

    RETURN_TYPES = ("MODEL", "CONDITIONING")
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self):
        """An object as the MODEL, an empty text conditioning (a (1, 1, 768) zero embedding)."""
        return object(), [[torch.zeros(1, 1, 768), {"pooled_output": torch.zeros(1, 768)}]]


NODE_CLASS_MAPPINGS = {"TestImageChannels": TestImageChannels, "TestBadTensor": TestBadTensor,
                       "TestPlaceholder": TestPlaceholder}
