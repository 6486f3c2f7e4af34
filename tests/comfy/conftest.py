"""The real-server fixture shared by tests/comfy: a server with a test checkpoint named like the demo model."""
import pytest

from .graphs import DEMO, EXAMPLES, USE_DEMO


@pytest.fixture(scope="module")
def server(comfy_server, pack_dir):
    """The server with a tiny checkpoint named like the demo model; the example images are the pack's copies."""
    from twgtm.weights.checkpoint import save_checkpoint
    from twgtm.model.network import build_model

    if USE_DEMO:
        if not (pack_dir / "weights" / DEMO).is_file():
            pytest.fail(f"TWGTM_TEST_DEMO_MODEL=1 but weights/{DEMO} is missing", pytrace=False)
        (comfy_server.models_dir / DEMO).unlink(missing_ok=True)  # models/twgtm is searched first
    else:
        save_checkpoint(build_model("tiny"), comfy_server.models_dir / DEMO)
    for name in EXAMPLES:  # nothing uploaded: the pack copied its example images into the fresh input folder
        assert (comfy_server.input_dir / name).is_file(), name
    return comfy_server
