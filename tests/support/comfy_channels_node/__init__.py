"""A test-only ComfyUI pack: an IMAGE with any number of channels, as a foreign node might hand one on.

Loaded only by the load test's own server (tests/comfy/test_under_load.py), beside the TWGTM pack.
"""


class TestImageChannels:
    """Repeat or cut an IMAGE's channels to `channels` (2 makes a 'grey + alpha' image no core node outputs)."""

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


NODE_CLASS_MAPPINGS = {"TestImageChannels": TestImageChannels}
